package recoveryplan

import (
	"context"
	"errors"

	"github.com/opensiterecovery/osr/internal/vault/db"
)

// errStopped is the error of a run whose vault service stopped.
var errStopped = errors.New("the vault service stopped during the run")

// failStale fails the runs left running or paused by a process of this host that is gone.
func (s *Service) failStale(ctx context.Context) error {
	rows, err := s.db.Query(ctx, `SELECT id, job_id, owner_pid FROM plan_runs WHERE state IN ('running', 'paused') AND owner_host = ?`, s.cfg.Host)
	if err != nil {
		return err
	}
	type stale struct {
		id, job string
	}
	var gone []stale
	for rows.Next() {
		var id, job string
		var pid int
		if err := rows.Scan(&id, &job, &pid); err != nil {
			rows.Close()
			return err
		}
		if pid != s.cfg.PID && !processAlive(pid) {
			gone = append(gone, stale{id, job})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	now := ns(s.clock.Now())
	for _, g := range gone {
		err := s.db.InTx(ctx, func(tx *db.Tx) error {
			res, err := tx.Exec(ctx, `UPDATE plan_runs SET state = 'failed', step = 'stopped', error = ?, ended = ? WHERE id = ? AND state IN ('running', 'paused')`, errStopped.Error(), now, g.id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil
			}
			if _, err := tx.Exec(ctx, `UPDATE plan_run_steps SET state = 'failed', error = ?, ended = ? WHERE run_id = ? AND state = 'running'`, errStopped.Error(), now, g.id); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE plan_run_steps SET state = 'skipped' WHERE run_id = ? AND state = 'pending'`, g.id); err != nil {
				return err
			}
			return s.v.FinishJob(ctx, tx, g.job, "", errStopped)
		})
		if err != nil {
			return err
		}
		s.log.Warn("recovery plan run failed: its vault service is gone", "run", g.id)
	}
	return nil
}
