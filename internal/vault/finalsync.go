package vault

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Requests of the vault to a configuration server about one machine (docs/pipeline.md, "Planned
// failover"). Each is a job (kinds below) whose ID is the request ID: the configuration server
// takes the running ones with GET /cs/requests and ends them with POST /cs/requests/{id}; the
// caller waits for the job's end. The jobs table is shared by every vault replica, so that the
// call, the poll and the report may reach different replicas.
const (
	JobFinalSync         = "final-sync"          // FinalSync without shutdown
	JobFinalSyncShutdown = "final-sync-shutdown" // FinalSync with shutdown
	JobLatestReceived    = "latest-received"     // LatestReceived
)

// Bounds of the requests: past them the job fails and the call returns an error.
const (
	FinalSyncTimeout      = 15 * time.Minute
	LatestReceivedTimeout = 15 * time.Minute
)

// agentLateAfter: an agent (or process server) whose newest heartbeat at its configuration
// server is older than this, by the configuration server's report, is disconnected for a request
// (three heartbeats missed).
const agentLateAfter = 90 * time.Second

// requestPollEvery is how often a waiting call reads its job.
const requestPollEvery = 100 * time.Millisecond

// FinalSync takes a planned failover's last point of machine and returns its recovery point ID.
// Through the machine's configuration server its mobility agent stops the source's writes (it
// freezes every filesystem mounted on the protected disks; with shutdown it first runs its
// shutdown hook and must succeed), captures and sends what changed, the process server commits
// the point, and the agent reports it. Every write acknowledged on the source before FinalSync
// was called is in that point. Afterwards, without shutdown the agent goes on replicating; with
// shutdown it stops replicating.
//
// The call is a job (kind final-sync or final-sync-shutdown) bounded by ctx and FinalSyncTimeout;
// it fails at once, changing nothing, when the machine is not protected, its configuration server
// or agent is disconnected, it has no agent (a machine the configuration server does not manage),
// or a final sync of it is already running. An agent's failure (the freeze, the hook, the commit)
// is returned as "final sync of M failed: <the agent's reason>".
func (s *Service) FinalSync(ctx context.Context, vault, machine string, shutdown bool) (string, error) {
	kind := JobFinalSync
	if shutdown {
		kind = JobFinalSyncShutdown
	}
	return s.csRequest(ctx, vault, machine, kind)
}

// LatestReceived waits until the machine's process server has committed everything it had
// received (acknowledged durable) for the machine when the call began, and returns the newest
// committed recovery point then: the "latest" point of an unplanned failover. A process server
// that holds nothing of the machine leaves the newest recovery point in the catalog. It is a job
// (kind latest-received) bounded by ctx and LatestReceivedTimeout; a disconnected configuration
// server or process server fails it at once.
func (s *Service) LatestReceived(ctx context.Context, vault, machine string) (string, error) {
	id, err := s.csRequest(ctx, vault, machine, JobLatestReceived)
	if err != nil {
		return "", err
	}
	pts, err := s.RecoveryPoints(ctx, vault, machine)
	if err != nil {
		return "", err
	}
	if len(pts) == 0 {
		return "", notFound("machine %s has no recovery point yet", machine)
	}
	if id == "" {
		return pts[0].ID, nil
	}
	for _, p := range pts {
		if p.ID == id {
			return id, nil
		}
	}
	return "", conflict("the newest point of %s the process server committed (%s) is a partial point of initial replication: no recovery point holds all it received", machine, id)
}

// requestWhat names a request kind in messages.
func requestWhat(kind string) string {
	if kind == JobLatestReceived {
		return "latest-received request"
	}
	return "final sync"
}

// csRequest checks that the request can reach the machine, records it as a job and waits for
// its end; it returns the job's result (a recovery point ID).
func (s *Service) csRequest(ctx context.Context, vault, machine, kind string) (string, error) {
	it, err := s.GetItem(ctx, vault, machine)
	if err != nil {
		return "", err
	}
	what := requestWhat(kind)
	switch {
	case kind != JobLatestReceived && it.State != StateProtected && it.State != StateResynchronising:
		return "", conflict("machine %s is in state %s: a final sync needs a protected machine", machine, it.State)
	case it.State == StateEnabling:
		return "", conflict("machine %s is in state %s: it has no recovery point yet", machine, it.State)
	}
	var csID, csName string
	var last int64
	var hbJSON string
	err = s.db.QueryRow(ctx, `SELECT c.id, c.name, c.last_heartbeat, c.heartbeat FROM protected_items i JOIN config_servers c ON c.id = i.config_server_id WHERE i.vault_id = ? AND i.machine = ?`,
		it.VaultID, machine).Scan(&csID, &csName, &last, &hbJSON)
	if errors.Is(err, sql.ErrNoRows) {
		return "", conflict("machine %s has no configuration server", machine)
	}
	if err != nil {
		return "", err
	}
	now := s.clock.Now()
	if last == 0 || now.Sub(fromNS(last)) >= csDisconnectedAfter {
		return "", conflict("configuration server %s is disconnected (no heartbeat for %s)", csName, now.Sub(fromNS(last)).Truncate(time.Second))
	}
	var hb Heartbeat
	if err := json.Unmarshal([]byte(hbJSON), &hb); err != nil {
		return "", fmt.Errorf("heartbeat of configuration server %s: %w", csName, err)
	}
	if err := reachable(hb, kind, machine, csName); err != nil {
		return "", err
	}
	var jobID string
	err = s.db.InTx(ctx, func(tx *dbTx) error {
		kinds := []any{JobFinalSync, JobFinalSyncShutdown}
		if kind == JobLatestReceived {
			kinds = []any{JobLatestReceived, JobLatestReceived}
		}
		var other string
		err := tx.QueryRow(ctx, `SELECT id FROM jobs WHERE vault_id = ? AND target = ? AND state = ? AND kind IN (?, ?) LIMIT 1`,
			append([]any{it.VaultID, machine, JobRunning}, kinds...)...).Scan(&other)
		if err == nil {
			return conflict("a %s of %s is already running (%s)", what, machine, other)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		jobID, err = s.startJob(ctx, tx, it.VaultID, kind, machine)
		return err
	})
	if err != nil {
		return "", err
	}
	s.log.InfoContext(ctx, "request to the configuration server", "job", jobID, "kind", kind, "machine", machine, "config_server", csName)
	return s.waitRequest(ctx, jobID, kind, machine, now.Add(requestTimeout(kind)))
}

func requestTimeout(kind string) time.Duration {
	if kind == JobLatestReceived {
		return LatestReceivedTimeout
	}
	return FinalSyncTimeout
}

// reachable checks, from the configuration server's newest heartbeat, that the machine has an
// agent (a final sync) or a process server (latest received) that is not disconnected.
func reachable(hb Heartbeat, kind, machine, cs string) error {
	var agent *AgentStatus
	for i := range hb.Agents {
		if hb.Agents[i].Machine == machine {
			agent = &hb.Agents[i]
		}
	}
	if agent == nil {
		return conflict("machine %s has no mobility agent enrolled with configuration server %s", machine, cs)
	}
	what, seen := "the mobility agent of "+machine, agent.LastSeen
	if kind == JobLatestReceived {
		what, seen = "process server "+agent.ProcessServer, time.Time{}
		if agent.ProcessServer == "" {
			return conflict("machine %s has no process server assigned", machine)
		}
		for _, p := range hb.ProcessServers {
			if p.Name == agent.ProcessServer {
				seen = p.LastSeen
			}
		}
	}
	if seen.IsZero() {
		return conflict("%s has sent no heartbeat since configuration server %s started", what, cs)
	}
	if age := hb.Time.Sub(seen); age > agentLateAfter {
		return conflict("%s is disconnected (no heartbeat for %s)", what, age.Truncate(time.Second))
	}
	return nil
}

// waitRequest waits for the job's end, or fails it when ctx ends or the deadline (vault clock)
// passes.
func (s *Service) waitRequest(ctx context.Context, jobID, kind, machine string, deadline time.Time) (string, error) {
	what := requestWhat(kind)
	t := time.NewTicker(requestPollEvery)
	defer t.Stop()
	for {
		j, err := s.GetJob(context.WithoutCancel(ctx), jobID)
		if err != nil {
			return "", err
		}
		switch j.State {
		case JobSucceeded:
			return j.Result, nil
		case JobFailed:
			return "", conflict("%s of %s failed: %s", what, machine, j.Error)
		}
		var why error
		switch {
		case ctx.Err() != nil:
			why = fmt.Errorf("%s of %s: %w", what, machine, ctx.Err())
		case !s.clock.Now().Before(deadline):
			why = errf(504, "%s of %s did not end within %s", what, machine, requestTimeout(kind))
		}
		if why != nil {
			// Ended here, unless the report got in first.
			res, err := s.db.Exec(context.WithoutCancel(ctx), `UPDATE jobs SET state = ?, error = ?, ended = ? WHERE id = ? AND state = ?`,
				JobFailed, why.Error(), ns(s.clock.Now()), jobID, JobRunning)
			if err != nil {
				return "", err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			return "", why
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}
