package failover

import (
	"context"
	"fmt"
	"net/http"

	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

// CleanupTest removes everything a machine's test failover made (provider Remove) and its
// record, as a job.
func (s *Service) CleanupTest(ctx context.Context, vaultName, machine string) (*Operation, error) {
	v, repo, err := s.v.VaultRepo(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	if _, err := s.v.GetItem(ctx, v.ID, machine); err != nil {
		return nil, err
	}
	rec, err := s.record(ctx, nil, v.ID, machine, KindTest)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, notFound("machine %s has no test failover", machine)
	}
	j := &job{s: s, v: v, repo: repo, rec: rec, kind: JobTestCleanup, cleanup: true}
	err = s.v.DB().InTx(ctx, func(tx *db.Tx) error {
		id, err := s.v.StartJob(ctx, tx, v.ID, JobTestCleanup, machine)
		if err != nil {
			return err
		}
		if err := s.acquire(ctx, tx, v.ID, machine, JobTestCleanup, id); err != nil {
			return err
		}
		rec.JobID, rec.State = id, RecordRunning
		if err := s.saveRecord(ctx, tx, rec); err != nil {
			return err
		}
		return s.v.AddAudit(ctx, tx, "failover."+JobTestCleanup, v.Name+"/"+machine, "run "+rec.Run)
	})
	if err != nil {
		return nil, err
	}
	s.launch(j)
	j2, err := s.v.GetJob(ctx, rec.JobID)
	if err != nil {
		return nil, err
	}
	return &Operation{Job: j2, Failover: rec}, nil
}

func (j *job) removeTest(ctx context.Context) (string, error) {
	if err := j.s.discardRun(ctx, j.v.ID, j.repo, j.rec); err != nil {
		return "", err
	}
	return fmt.Sprintf("test failover of %s removed from target %s", j.rec.Machine, j.rec.Target), nil
}

// ChangePoint redoes a failed-over (not committed) machine's disks from another point, then
// removes the previous ones, as a job.
func (s *Service) ChangePoint(ctx context.Context, vaultName, machine string, req ChangePointRequest) (*Operation, error) {
	v, repo, err := s.v.VaultRepo(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	it, err := s.v.GetItem(ctx, v.ID, machine)
	if err != nil {
		return nil, err
	}
	rec, err := s.record(ctx, nil, v.ID, machine, KindFailover)
	if err != nil {
		return nil, err
	}
	if it.State != vault.StateFailedOver || rec == nil || rec.State != RecordSucceeded {
		if it.State == vault.StateCommitted || it.State == vault.StateMigrationCompleted {
			return nil, conflict("the failover of machine %s is %s: its recovery point can no longer change", machine, it.State)
		}
		return nil, conflict("machine %s is not failed over (%s): change-point applies to a failover not yet committed", machine, it.State)
	}
	if req.Point == "" {
		return nil, badRequest("point is required")
	}
	if req.Point == PointLatest {
		return nil, badRequest("point latest is not available after failover: replication has stopped; give latest-processed, a point ID or a time")
	}
	pt, err := resolvePoint(ctx, repo, machine, req.Point)
	if err != nil {
		return nil, err
	}
	if pt.ID == rec.PointID {
		return nil, conflict("machine %s is failed over at point %s already", machine, short(pt.ID))
	}
	pl, err := s.planMachine(ctx, v.ID, machine, false, "")
	if err != nil {
		return nil, err
	}
	m, err := s.machineInfo(ctx, v.ID, machine)
	if err != nil {
		return nil, err
	}
	old := *rec
	nrec := *rec
	nrec.Run, nrec.State, nrec.Result, nrec.PointRef, nrec.Error = randomID("fo-"), RecordRunning, nil, req.Point, ""
	nrec.VerifyBoot, nrec.BootCheck = false, nil // the new point's disks are not booted
	j := &job{s: s, v: v, repo: repo, rec: &nrec, kind: JobChangePoint, plan: pl, point: pt, pointRef: req.Point, old: &old}
	for _, d := range m.Disks {
		j.disks = append(j.disks, d.Name)
	}
	err = s.v.DB().InTx(ctx, func(tx *db.Tx) error {
		id, err := s.v.StartJob(ctx, tx, v.ID, JobChangePoint, machine)
		if err != nil {
			return err
		}
		if err := s.acquire(ctx, tx, v.ID, machine, JobChangePoint, id); err != nil {
			return err
		}
		nrec.JobID = id
		// The record keeps the old result until the new disks are complete: a failed change
		// leaves the machine failed over at its old point.
		cur := old
		cur.JobID = id
		if err := s.saveRecord(ctx, tx, &cur); err != nil {
			return err
		}
		if err := s.v.AddEvent(ctx, tx, v.ID, "info", JobChangePoint+"-started", machine, fmt.Sprintf("recovery point of %s changes from %s to %s", machine, short(old.PointID), short(pt.ID))); err != nil {
			return err
		}
		return s.v.AddAudit(ctx, tx, "failover."+JobChangePoint, v.Name+"/"+machine, "point "+pt.ID)
	})
	if err != nil {
		return nil, err
	}
	s.launch(j)
	j2, err := s.v.GetJob(ctx, nrec.JobID)
	if err != nil {
		return nil, err
	}
	return &Operation{Job: j2, Failover: &old}, nil
}

// Commit makes a failover final: the item becomes committed and its point can no longer change.
func (s *Service) Commit(ctx context.Context, vaultName, machine string) (*Operation, error) {
	return s.settle(ctx, vaultName, machine, JobCommit, func(st string, rec *Record) (string, error) {
		if st != vault.StateFailedOver || rec == nil || rec.State != RecordSucceeded {
			if st == vault.StateCommitted || st == vault.StateMigrationCompleted {
				return "", conflict("the failover of machine %s is %s already", machine, st)
			}
			return "", conflict("machine %s is not failed over (%s): fail it over first (osr failover run %s)", machine, st, machine)
		}
		return vault.StateCommitted, nil
	})
}

// CompleteMigration ends a migration: replication of the failed-over machine stops for good,
// the target and the history are kept, the item becomes migration-completed. removeAgent asks
// the configuration server to uninstall the agent.
func (s *Service) CompleteMigration(ctx context.Context, vaultName, machine string, req CompleteMigrationRequest) (*Operation, error) {
	if req.RemoveAgent && s.cfg.Agents == nil {
		return nil, vault.Errorf(http.StatusNotImplemented, "this vault service cannot remove agents: complete the migration without remove_agent and uninstall the agent on %s (osr mobility uninstall)", machine)
	}
	return s.settle(ctx, vaultName, machine, JobCompleteMigration, func(st string, rec *Record) (string, error) {
		if st == vault.StateMigrationCompleted {
			return "", conflict("the migration of machine %s is completed already", machine)
		}
		if (st != vault.StateFailedOver && st != vault.StateCommitted) || rec == nil {
			return "", conflict("machine %s is not failed over (%s): fail it over first (osr failover run %s)", machine, st, machine)
		}
		if req.RemoveAgent {
			if err := s.cfg.Agents.RemoveAgent(ctx, vaultName, machine); err != nil {
				return "", vault.Errorf(http.StatusBadGateway, "remove the agent of %s: %v", machine, err)
			}
		}
		return vault.StateMigrationCompleted, nil
	})
}

// settle runs a short operation that moves the failover record and the item to a new state as
// one job, under the machine's lock.
func (s *Service) settle(ctx context.Context, vaultName, machine, jobKind string, next func(itemState string, rec *Record) (string, error)) (*Operation, error) {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	if _, err := s.v.GetItem(ctx, v.ID, machine); err != nil {
		return nil, err
	}
	rec, err := s.record(ctx, nil, v.ID, machine, KindFailover)
	if err != nil {
		return nil, err
	}
	var jobID string
	err = s.v.DB().InTx(ctx, func(tx *db.Tx) error {
		st, err := s.v.ItemState(ctx, tx, v.ID, machine)
		if err != nil {
			return err
		}
		if err := s.checkNoneRunning(ctx, tx, v.ID, machine); err != nil {
			return err
		}
		to, err := next(st, rec)
		if err != nil {
			return err
		}
		if jobID, err = s.v.StartJob(ctx, tx, v.ID, jobKind, machine); err != nil {
			return err
		}
		rec.State, rec.JobID = to, jobID
		if err := s.saveRecord(ctx, tx, rec); err != nil {
			return err
		}
		if err := s.v.SetItemFailoverState(ctx, tx, v.ID, machine, to); err != nil {
			return err
		}
		msg := fmt.Sprintf("failover of %s at point %s %s", machine, short(rec.PointID), to)
		if err := s.v.FinishJob(ctx, tx, jobID, msg, nil); err != nil {
			return err
		}
		if err := s.v.AddEvent(ctx, tx, v.ID, "info", jobKind, machine, msg); err != nil {
			return err
		}
		return s.v.AddAudit(ctx, tx, "failover."+jobKind, v.Name+"/"+machine, to)
	})
	if err != nil {
		return nil, err
	}
	return s.operation(ctx, rec)
}

// checkNoneRunning refuses while an operation runs on the machine (a stale lock is taken over).
func (s *Service) checkNoneRunning(ctx context.Context, tx *db.Tx, vaultID, machine string) error {
	if err := lockVault(ctx, tx, vaultID); err != nil {
		return err
	}
	l, err := s.readLock(ctx, tx, vaultID, machine)
	if err != nil || l == nil {
		return err
	}
	if dead, why := s.stale(l); dead {
		return s.failStale(ctx, tx, l, why)
	}
	return conflict("machine %s has a %s running (job %s): wait for it to end", machine, l.operation, l.jobID)
}

// Status is the failover picture of one machine.
type Status struct {
	Machine   string   `json:"machine"`
	ItemState string   `json:"item_state"`
	Test      *Record  `json:"test"`     // the test failover, nil when none
	Failover  *Record  `json:"failover"` // the newest failover, nil when none
	Running   *Running `json:"running"`  // the operation running, nil when none
}

// Running is an operation in progress on a machine.
type Running struct {
	Operation string `json:"operation"`
	JobID     string `json:"job_id"`
}

// Status returns a machine's failover status.
func (s *Service) Status(ctx context.Context, vaultName, machine string) (*Status, error) {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	it, err := s.v.GetItem(ctx, v.ID, machine)
	if err != nil {
		return nil, err
	}
	st := &Status{Machine: machine, ItemState: it.State}
	if st.Test, err = s.record(ctx, nil, v.ID, machine, KindTest); err != nil {
		return nil, err
	}
	if st.Failover, err = s.record(ctx, nil, v.ID, machine, KindFailover); err != nil {
		return nil, err
	}
	var op, job string
	err = s.v.DB().QueryRow(ctx, `SELECT operation, job_id FROM failover_locks WHERE vault_id = ? AND machine = ?`, v.ID, machine).Scan(&op, &job)
	if err == nil {
		st.Running = &Running{Operation: op, JobID: job}
	} else if !isNoRows(err) {
		return nil, err
	}
	return st, nil
}
