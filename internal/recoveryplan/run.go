package recoveryplan

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/opensiterecovery/osr/internal/bootcheck"
	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

// Operations of a run.
const (
	OpFailover     = "failover"
	OpTestFailover = "test-failover"
	OpCleanup      = "cleanup"
)

// Run and step states.
const (
	StatePending   = "pending"
	StateRunning   = "running"
	StatePaused    = "paused"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	StateSkipped   = "skipped"
)

// Step kinds.
const (
	KindPause   = "pause"
	KindBefore  = "before"
	KindAfter   = "after"
	KindMachine = "machine"
)

// BootChecker boots a failed-over machine from its definition file (bootcheck.Checker).
type BootChecker interface {
	CheckFile(ctx context.Context, definitionFile string) (*bootcheck.Result, error)
}

// RunRequest starts a run of a plan.
type RunRequest struct {
	// Point, Network, Target and ShutdownSource go to every machine's operation (see
	// MachineOptions); ShutdownSource is for failover only, Network for test failover only.
	Point          string `json:"point,omitempty"`
	Network        string `json:"network,omitempty"`
	Target         string `json:"target,omitempty"`
	ShutdownSource bool   `json:"shutdown_source,omitempty"`
	// VerifyBoot boots each machine once its operation is done (failover and test failover); a
	// machine that does not boot fails.
	VerifyBoot bool `json:"verify_boot,omitempty"`
}

// Run is one run of a plan.
type Run struct {
	ID        string     `json:"id"`
	Vault     string     `json:"vault"`
	Plan      string     `json:"plan"`
	Operation string     `json:"operation"`
	Options   RunRequest `json:"options"`
	State     string     `json:"state"`
	// Step says where the run is ("group 1 (web): machines", "paused before group 2 (app): ...").
	Step      string     `json:"step"`
	JobID     string     `json:"job_id"`
	Error     string     `json:"error"`
	CreatedBy string     `json:"created_by"`
	Started   time.Time  `json:"started"`
	Ended     *time.Time `json:"ended"`
	Steps     []Step     `json:"steps"`
}

// Step is one step of a run: a script, a pause, or a machine's operation.
type Step struct {
	Seq   int    `json:"seq"`
	Group int    `json:"group"` // 1-based
	Kind  string `json:"kind"`
	// Name is the machine, the script's path, or the pause's message.
	Name    string `json:"name"`
	State   string `json:"state"`
	JobID   string `json:"job_id,omitempty"`
	PointID string `json:"point_id,omitempty"`
	// BootSeconds is the boot check's wall time (verify_boot), 0 when none ran.
	BootSeconds float64 `json:"boot_seconds,omitempty"`
	// Output is a script's output tail, or the boot check's console tail.
	Output  string     `json:"output,omitempty"`
	Error   string     `json:"error,omitempty"`
	Started *time.Time `json:"started"`
	Ended   *time.Time `json:"ended"`
}

func timePtr(n int64) *time.Time {
	if n == 0 {
		return nil
	}
	t := fromNS(n)
	return &t
}

func randomID(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// plannedSteps lays out a run's steps: the groups in order with their pauses and scripts, or,
// for a cleanup, only the machines, the groups in reverse order.
func plannedSteps(p *Plan, op string) []Step {
	var out []Step
	add := func(g int, kind, name string) {
		out = append(out, Step{Seq: len(out) + 1, Group: g, Kind: kind, Name: name, State: StatePending})
	}
	if op == OpCleanup {
		for i := len(p.Groups) - 1; i >= 0; i-- {
			for _, m := range p.Groups[i].Machines {
				add(i+1, KindMachine, m)
			}
		}
		return out
	}
	for i, g := range p.Groups {
		n := i + 1
		if g.PauseBefore != "" {
			add(n, KindPause, g.PauseBefore)
		}
		if g.Before != "" {
			add(n, KindBefore, g.Before)
		}
		for _, m := range g.Machines {
			add(n, KindMachine, m)
		}
		if g.After != "" {
			add(n, KindAfter, g.After)
		}
		if g.PauseAfter != "" {
			add(n, KindPause, g.PauseAfter)
		}
	}
	return out
}

// Start starts a run of a plan as a vault job and returns it at once; the run goes on in the
// background. A plan runs once at a time (409 while a run is going on).
func (s *Service) Start(ctx context.Context, vaultName, planName, op string, req RunRequest) (*Run, error) {
	switch op {
	case OpFailover:
		if req.Network != "" {
			return nil, badRequest("network is for test failover only (failover uses the target networks of the mappings)")
		}
	case OpTestFailover:
		if req.ShutdownSource {
			return nil, badRequest("shutdown_source is for failover only")
		}
	case OpCleanup:
		if req != (RunRequest{}) {
			return nil, badRequest("cleanup takes no options")
		}
	default:
		return nil, badRequest("unknown operation %q (failover, test-failover or cleanup)", op)
	}
	if req.VerifyBoot && s.cfg.BootCheck == nil {
		return nil, badRequest("verify_boot: this vault service has no boot check configured")
	}
	p, err := s.Get(ctx, vaultName, planName)
	if err != nil {
		return nil, err
	}
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	opts, _ := json.Marshal(req)
	steps := plannedSteps(p, op)
	id := randomID("run-")
	now := s.clock.Now().UTC()
	actor := vault.ActorOf(ctx)
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		// Lock the plan row first, so that two starts of one plan serialise.
		res, err := tx.Exec(ctx, `UPDATE recovery_plans SET machine_count = machine_count WHERE vault_id = ? AND name = ?`, v.ID, p.Name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return vault.Errorf(http.StatusNotFound, "recovery plan %s does not exist in vault %s", p.Name, v.Name)
		}
		var other string
		err = tx.QueryRow(ctx, `SELECT id FROM plan_runs WHERE vault_id = ? AND plan = ? AND state IN ('running', 'paused')`, v.ID, p.Name).Scan(&other)
		if err == nil {
			return vault.Errorf(http.StatusConflict, "recovery plan %s has a run going on (%s)", p.Name, other)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		jobID, err := s.v.StartJob(ctx, tx, v.ID, "plan-"+op, p.Name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO plan_runs (id, vault_id, plan, operation, options_json, state, step, paused_seq, resume_seq, job_id, error, owner_host, owner_pid, created_by, started, ended) VALUES (?, ?, ?, ?, ?, ?, 'starting', 0, 0, ?, '', ?, ?, ?, ?, 0)`,
			id, v.ID, p.Name, op, string(opts), StateRunning, jobID, s.cfg.Host, s.cfg.PID, actor.Name(), ns(now)); err != nil {
			return err
		}
		for _, st := range steps {
			if _, err := tx.Exec(ctx, `INSERT INTO plan_run_steps (run_id, seq, group_index, kind, name, state, job_id, point_id, boot_ns, output, error, started, ended) VALUES (?, ?, ?, ?, ?, ?, '', '', 0, '', '', 0, 0)`,
				id, st.Seq, st.Group, st.Kind, st.Name, StatePending); err != nil {
				return err
			}
		}
		return s.v.AddAudit(ctx, tx, "plan."+op, v.Name+"/"+p.Name, id)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "recovery plan run started", "plan", p.Name, "run", id, "operation", op)
	s.bg.Go(actor, func(ctx context.Context) { s.execute(ctx, v, p, id, op, req, steps) })
	return s.GetRun(ctx, v.Name, id)
}

const runCols = `id, plan, operation, options_json, state, step, job_id, error, created_by, started, ended`

// GetRun returns a run with its steps.
func (s *Service) GetRun(ctx context.Context, vaultName, id string) (*Run, error) {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	r, err := s.scanRun(s.db.QueryRow(ctx, `SELECT `+runCols+` FROM plan_runs WHERE vault_id = ? AND id = ?`, v.ID, id), v.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vault.Errorf(http.StatusNotFound, "run %s does not exist in vault %s", id, v.Name)
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT seq, group_index, kind, name, state, job_id, point_id, boot_ns, output, error, started, ended FROM plan_run_steps WHERE run_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	r.Steps = []Step{}
	for rows.Next() {
		var st Step
		var boot, started, ended int64
		if err := rows.Scan(&st.Seq, &st.Group, &st.Kind, &st.Name, &st.State, &st.JobID, &st.PointID, &boot, &st.Output, &st.Error, &started, &ended); err != nil {
			return nil, err
		}
		st.BootSeconds = time.Duration(boot).Seconds()
		st.Started, st.Ended = timePtr(started), timePtr(ended)
		r.Steps = append(r.Steps, st)
	}
	return r, rows.Err()
}

func (s *Service) scanRun(sc interface{ Scan(...any) error }, vaultName string) (*Run, error) {
	r := &Run{Vault: vaultName}
	var opts string
	var started, ended int64
	if err := sc.Scan(&r.ID, &r.Plan, &r.Operation, &opts, &r.State, &r.Step, &r.JobID, &r.Error, &r.CreatedBy, &started, &ended); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(opts), &r.Options); err != nil {
		return nil, fmt.Errorf("run %s: stored options: %w", r.ID, err)
	}
	r.Started, r.Ended = fromNS(started), timePtr(ended)
	return r, nil
}

// ListRuns returns a plan's runs, newest first, without their steps.
func (s *Service) ListRuns(ctx context.Context, vaultName, plan string) ([]*Run, error) {
	p, err := s.Get(ctx, vaultName, plan)
	if err != nil {
		return nil, err
	}
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+runCols+` FROM plan_runs WHERE vault_id = ? AND plan = ? ORDER BY started DESC, id DESC LIMIT 100`, v.ID, p.Name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Run{}
	for rows.Next() {
		r, err := s.scanRun(rows, v.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Resume resumes the plan's paused run (409 when no run of the plan is paused).
func (s *Service) Resume(ctx context.Context, vaultName, plan string) (*Run, error) {
	p, err := s.Get(ctx, vaultName, plan)
	if err != nil {
		return nil, err
	}
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	var id string
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		err := tx.QueryRow(ctx, `SELECT id FROM plan_runs WHERE vault_id = ? AND plan = ? AND state = ? AND resume_seq = paused_seq`, v.ID, p.Name, StatePaused).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return vault.Errorf(http.StatusConflict, "recovery plan %s has no paused run", p.Name)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE plan_runs SET resume_seq = resume_seq + 1 WHERE id = ?`, id); err != nil {
			return err
		}
		return s.v.AddAudit(ctx, tx, "plan.resume", v.Name+"/"+p.Name, id)
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if ch, ok := s.wakeup[id]; ok {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
	return s.GetRun(ctx, v.Name, id)
}

// WaitRun blocks until the run ends (or ctx ends) and returns it.
func (s *Service) WaitRun(ctx context.Context, vaultName, id string) (*Run, error) {
	for {
		r, err := s.GetRun(ctx, vaultName, id)
		if err != nil {
			return nil, err
		}
		if r.State == StateSucceeded || r.State == StateFailed {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
