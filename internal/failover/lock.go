package failover

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opensiterecovery/osr/internal/vault/db"
)

// opLock is the row that serialises failover operations on one machine.
type opLock struct {
	vaultID, machine, operation, jobID string
	owner, host                        string
	pid                                int64
	heartbeat                          time.Time
}

func (s *Service) readLock(ctx context.Context, tx *db.Tx, vaultID, machine string) (*opLock, error) {
	l := &opLock{vaultID: vaultID, machine: machine}
	var hb int64
	err := tx.QueryRow(ctx, `SELECT operation, job_id, owner, host, pid, heartbeat FROM failover_locks WHERE vault_id = ? AND machine = ?`, vaultID, machine).
		Scan(&l.operation, &l.jobID, &l.owner, &l.host, &l.pid, &hb)
	if isNoRows(err) {
		return nil, nil
	}
	l.heartbeat = fromNS(hb)
	return l, err
}

// stale reports whether the holder of l is gone: a process of this host that is not running
// (or this PID under another instance: a restarted container), or no heartbeat for a lease.
func (s *Service) stale(l *opLock) (bool, string) {
	if l.owner == s.owner {
		return false, ""
	}
	if l.host == s.cfg.Host {
		if l.pid == int64(s.cfg.PID) {
			return true, fmt.Sprintf("the vault service running it (pid %d on %s) restarted", l.pid, l.host)
		}
		if processGone(int(l.pid)) {
			return true, fmt.Sprintf("the vault service running it (pid %d on %s) stopped", l.pid, l.host)
		}
	}
	if age := s.clock.Now().Sub(l.heartbeat); age > s.cfg.Lease {
		return true, fmt.Sprintf("the vault service running it (pid %d on %s) sent no heartbeat for %s", l.pid, l.host, age.Round(time.Second))
	}
	return false, ""
}

// lockVault serialises lock changes of a vault (PostgreSQL: a row lock on the vault; SQLite
// holds the write lock from BEGIN).
func lockVault(ctx context.Context, tx *db.Tx, vaultID string) error {
	_, err := tx.Exec(ctx, `UPDATE vaults SET id = id WHERE id = ?`, vaultID)
	return err
}

// acquire takes the machine's operation lock in tx for job (409 while another runs). A stale
// lock is taken over: its job and record fail with the reason.
func (s *Service) acquire(ctx context.Context, tx *db.Tx, vaultID, machine, operation, jobID string) error {
	if err := lockVault(ctx, tx, vaultID); err != nil {
		return err
	}
	l, err := s.readLock(ctx, tx, vaultID, machine)
	if err != nil {
		return err
	}
	if l != nil {
		dead, why := s.stale(l)
		if !dead {
			return conflict("machine %s has a %s running (job %s): wait for it to end", machine, l.operation, l.jobID)
		}
		if err := s.failStale(ctx, tx, l, why); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO failover_locks (vault_id, machine, operation, job_id, owner, host, pid, heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		vaultID, machine, operation, jobID, s.owner, s.cfg.Host, s.cfg.PID, ns(s.clock.Now()))
	if db.IsUniqueViolation(err) {
		return conflict("machine %s has a failover operation running: wait for it to end", machine)
	}
	return err
}

// failStale ends the job and running record of a stale lock and deletes the lock.
func (s *Service) failStale(ctx context.Context, tx *db.Tx, l *opLock, why string) error {
	jobErr := errors.New(why + ": run it again")
	if err := s.v.FinishJob(ctx, tx, l.jobID, "", jobErr); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE failovers SET state = ?, error = ?, updated = ? WHERE vault_id = ? AND machine = ? AND job_id = ? AND state = ?`,
		RecordFailed, jobErr.Error(), ns(s.clock.Now()), l.vaultID, l.machine, l.jobID, RecordRunning); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM failover_locks WHERE vault_id = ? AND machine = ?`, l.vaultID, l.machine); err != nil {
		return err
	}
	return s.v.AddEvent(ctx, tx, l.vaultID, "critical", "failover-interrupted", l.machine, fmt.Sprintf("%s of %s (job %s) was interrupted: %s", l.operation, l.machine, l.jobID, why))
}

// release deletes this instance's lock of a machine in tx.
func (s *Service) release(ctx context.Context, tx *db.Tx, vaultID, machine string) error {
	_, err := tx.Exec(ctx, `DELETE FROM failover_locks WHERE vault_id = ? AND machine = ? AND owner = ?`, vaultID, machine, s.owner)
	return err
}

// heartbeat refreshes the lock of a running operation until ctx ends.
func (s *Service) heartbeat(ctx context.Context, vaultID, machine string) {
	t := time.NewTicker(s.cfg.Lease / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.v.DB().Exec(ctx, `UPDATE failover_locks SET heartbeat = ? WHERE vault_id = ? AND machine = ? AND owner = ?`,
				ns(s.clock.Now()), vaultID, machine, s.owner); err != nil && ctx.Err() == nil {
				s.log.Warn("failover lock heartbeat failed", "machine", machine, "err", err)
			}
		}
	}
}

// recoverStale fails the operations whose holder is gone (run at start).
func (s *Service) recoverStale(ctx context.Context) error {
	rows, err := s.v.DB().Query(ctx, `SELECT vault_id, machine FROM failover_locks`)
	if err != nil {
		return err
	}
	var keys [][2]string
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			rows.Close()
			return err
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		err := s.v.DB().InTx(ctx, func(tx *db.Tx) error {
			if err := lockVault(ctx, tx, k[0]); err != nil {
				return err
			}
			l, err := s.readLock(ctx, tx, k[0], k[1])
			if err != nil || l == nil {
				return err
			}
			if dead, why := s.stale(l); dead {
				s.log.Warn("failing an interrupted failover operation", "machine", l.machine, "job", l.jobID, "why", why)
				return s.failStale(ctx, tx, l, why)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// errLockLost is returned to a job whose lock was taken over (it was judged gone): its outcome
// must not overwrite what the new holder did.
var errLockLost = errors.New("the machine's failover lock was taken over by another vault service")

// holding checks in tx that this instance still holds the machine's lock for job.
func (s *Service) holding(ctx context.Context, tx *db.Tx, vaultID, machine, jobID string) error {
	if err := lockVault(ctx, tx, vaultID); err != nil {
		return err
	}
	l, err := s.readLock(ctx, tx, vaultID, machine)
	if err != nil {
		return err
	}
	if l == nil || l.owner != s.owner || l.jobID != jobID {
		return errLockLost
	}
	return nil
}
