package failover

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

// job is one running operation that writes target disks (test failover, failover, change of
// point) or removes them (cleanup).
type job struct {
	s        *Service
	v        *vault.Vault
	repo     *store.Repo
	rec      *Record
	kind     string // job kind
	plan     *plan
	point    *store.Point // nil: resolved by the job (latest, planned)
	pointRef string
	disks    []string // inventory disk order
	discard  *Record  // a previous failed attempt whose output is removed first
	old      *Record  // change-point: the record as it was, removed after success
	cleanup  bool     // remove the test failover instead of creating
	// verifyBoot boots the created machine (BootCheck) before the job succeeds.
	verifyBoot bool

	stopProgress func()
}

var errStopped = errors.New("the vault service stopped while the job ran: run it again")

func (j *job) run(ctx context.Context) {
	var err error
	var result string
	// A read session: a prune keeps the data of the points read meanwhile, and the index is
	// reloaded (points committed by process servers since the vault opened the store).
	lock, lerr := j.repo.Session(ctx, store.LockRead)
	switch {
	case lerr != nil:
		err = fmt.Errorf("open a read session on the vault's store: %w", lerr)
	case j.cleanup:
		result, err = j.removeTest(ctx)
	default:
		result, err = j.create(ctx)
	}
	if lock != nil {
		lock.Release()
	}
	// The boot check reads the target's disks only: it runs outside the store's session.
	if err == nil && j.verifyBoot && !j.cleanup {
		result, err = j.boot(ctx, result)
	}
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("%w (%v)", errStopped, err)
	}
	j.finish(result, err)
}

// create resolves the point (final sync, latest), writes the disks and the definition.
func (j *job) create(ctx context.Context) (string, error) {
	s, rec := j.s, j.rec
	if j.discard != nil {
		if err := s.discardRun(ctx, j.v.ID, j.repo, j.discard); err != nil {
			j.event("warning", "failover-leftovers", fmt.Sprintf("what the failed attempt (run %s) of %s made could not be removed: %v", j.discard.Run, rec.Machine, err))
		}
	}
	pt := j.point
	switch {
	case pt != nil: // chosen, or the final sync of a previous attempt
	case rec.ShutdownSource:
		id, err := s.cfg.Source.FinalSync(ctx, j.v.Name, rec.Machine, true)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "final sync of ") {
				err = fmt.Errorf("final sync of %s: %w", rec.Machine, err)
			}
			return "", err
		}
		if pt, err = loadPoint(ctx, j.repo, rec.Machine, id); err != nil {
			return "", err
		}
		j.event("info", "final-sync", fmt.Sprintf("final sync of %s committed point %s; its source is shut down", rec.Machine, short(id)))
	case j.pointRef == PointLatest:
		id, err := s.cfg.Source.LatestReceived(ctx, j.v.Name, rec.Machine)
		if err != nil {
			return "", fmt.Errorf("commit what the process server received for %s: %w", rec.Machine, err)
		}
		if pt, err = loadPoint(ctx, j.repo, rec.Machine, id); err != nil {
			return "", err
		}
	}
	if j.point == nil {
		// A process server committed the point after the session began: read its index.
		if err := j.repo.LoadIndex(ctx); err != nil {
			return "", fmt.Errorf("read the store's index: %w", err)
		}
	}
	def := j.plan.withPoint(pt, j.disks)
	rec.PointID, rec.PointTime, rec.Definition, rec.Error, rec.BootCheck = pt.ID, timePtr(pt.Time.UTC()), &def, "", nil
	rec.BytesDone, rec.BytesTotal = 0, 0
	for _, d := range def.Disks {
		rec.BytesTotal += d.SizeBytes
	}
	if err := s.saveRecord(ctx, nil, rec); err != nil {
		return "", err
	}
	res, err := s.createOn(ctx, j.v.ID, j.repo, rec, pt, def, j.progress())
	if err != nil {
		return "", err
	}
	rec.Result, rec.BytesDone = &res, rec.BytesTotal
	for i := range def.Disks {
		if i < len(res.Disks) {
			def.Disks[i].File = res.Disks[i]
		}
	}
	if j.old != nil && j.old.Result != nil { // change-point: the previous point's disks go
		if p, err := s.provider(ctx, j.v.ID, j.old.Target); err != nil {
			j.event("warning", "failover-leftovers", fmt.Sprintf("the disks of the previous point %s of %s could not be removed: %v", short(j.old.PointID), rec.Machine, err))
		} else if err := p.Remove(ctx, *j.old.Result); err != nil {
			j.event("warning", "failover-leftovers", fmt.Sprintf("the disks of the previous point %s of %s could not be removed: %v", short(j.old.PointID), rec.Machine, err))
		}
	}
	return fmt.Sprintf("%s of %s at point %s (%s) on target %s: %d disks, %d bytes written, %d bytes skipped as zeros",
		kindLabel(rec.Kind), rec.Machine, short(pt.ID), pt.Time.UTC().Format(time.RFC3339), rec.Target, len(res.Disks), res.BytesWritten, res.BytesSkipped), nil
}

// createOn runs the provider's Create for a record at a point.
func (s *Service) createOn(ctx context.Context, vaultID string, repo *store.Repo, rec *Record, pt *store.Point, def target.Definition, progress target.Progress) (target.Result, error) {
	prov, err := s.provider(ctx, vaultID, rec.Target)
	if err != nil {
		return target.Result{}, err
	}
	disks, err := s.cfg.OpenDisks(ctx, repo, pt)
	if err != nil {
		return target.Result{}, err
	}
	byName := map[string]target.Disk{}
	for _, d := range disks {
		byName[d.Name()] = d
	}
	req := target.Request{Run: rec.Run, Test: rec.Kind == KindTest, Definition: def}
	for _, dd := range def.Disks {
		d, ok := byName[dd.Name]
		if !ok {
			return target.Result{}, fmt.Errorf("recovery point %s has no disk %s", short(pt.ID), dd.Name)
		}
		req.Disks = append(req.Disks, d)
	}
	res, err := prov.Create(ctx, req, progress)
	if err != nil {
		return target.Result{}, fmt.Errorf("target %s: %w", rec.Target, err)
	}
	return res, nil
}

// discardRun removes what a record's run made. Without a result (Create did not finish) the run
// is completed first, so that Remove knows everything it made.
func (s *Service) discardRun(ctx context.Context, vaultID string, repo *store.Repo, rec *Record) error {
	if rec.Result == nil {
		if rec.Definition == nil || rec.PointID == "" {
			return nil // Create never started
		}
		pt, err := repo.LoadPoint(ctx, rec.PointID)
		if err != nil {
			return err
		}
		res, err := s.createOn(ctx, vaultID, repo, rec, pt, *rec.Definition, func(int64, int64) {})
		if err != nil {
			return err
		}
		rec.Result = &res
	}
	prov, err := s.provider(ctx, vaultID, rec.Target)
	if err != nil {
		return err
	}
	return prov.Remove(ctx, *rec.Result)
}

// progress returns a Progress that a goroutine writes to the job and record twice a second.
func (j *job) progress() target.Progress {
	var done, total atomic.Int64
	stop := make(chan struct{})
	j.stopProgress = func() { close(stop) }
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		var last int64 = -1
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				d, tot := done.Load(), total.Load()
				if d == last || tot == 0 {
					continue
				}
				last = d
				ctx := context.WithoutCancel(j.s.ctx)
				_ = j.s.v.SetJobProgress(ctx, j.rec.JobID, 100*float64(d)/float64(tot))
				_, _ = j.s.v.DB().Exec(ctx, `UPDATE failovers SET bytes_done = ?, bytes_total = ? WHERE id = ? AND job_id = ? AND state = ?`, d, tot, j.rec.ID, j.rec.JobID, RecordRunning)
			}
		}
	}()
	return func(d, tot int64) {
		done.Store(d)
		total.Store(tot)
	}
}

func (j *job) event(sev, kind, msg string) {
	ctx := context.WithoutCancel(j.s.ctx)
	err := j.s.v.DB().InTx(ctx, func(tx *db.Tx) error { return j.s.v.AddEvent(ctx, tx, j.v.ID, sev, kind, j.rec.Machine, msg) })
	if err != nil {
		j.s.log.Warn("failover event not recorded", "err", err, "event", msg)
	}
}

// finish records the outcome of the job.
func (j *job) finish(result string, jobErr error) {
	if j.stopProgress != nil {
		j.stopProgress()
	}
	s := j.s
	ctx := context.WithoutCancel(s.ctx)
	if j.old != nil && jobErr != nil {
		// A failed change of point leaves the machine failed over at its old point; what the
		// new run made is removed as far as it can be.
		if err := s.discardRun(ctx, j.v.ID, j.repo, j.rec); err != nil {
			j.event("warning", "failover-leftovers", fmt.Sprintf("what the failed change of point (run %s) of %s made could not be removed: %v", j.rec.Run, j.rec.Machine, err))
		}
		back := *j.old
		back.JobID, back.Error = j.rec.JobID, fmt.Sprintf("change of point to %s failed: %v", short(j.rec.PointID), jobErr)
		j.rec, j.old = &back, nil
		err := s.v.DB().InTx(ctx, func(tx *db.Tx) error {
			if err := s.holding(ctx, tx, j.v.ID, j.rec.Machine, j.rec.JobID); err != nil {
				return err
			}
			if err := s.saveRecord(ctx, tx, j.rec); err != nil {
				return err
			}
			if err := s.v.FinishJob(ctx, tx, j.rec.JobID, "", jobErr); err != nil {
				return err
			}
			if err := s.v.AddEvent(ctx, tx, j.v.ID, "critical", j.kind+"-failed", j.rec.Machine, j.rec.Error); err != nil {
				return err
			}
			return s.release(ctx, tx, j.v.ID, j.rec.Machine)
		})
		if err != nil {
			s.log.Error("failover job outcome not recorded; the lock expires and the job fails then", "job", j.rec.JobID, "err", err)
		}
		return
	}
	if err := j.record(ctx, result, jobErr); err != nil {
		if errors.Is(err, errLockLost) {
			s.log.Warn("failover job outcome dropped: its lock was taken over", "job", j.rec.JobID, "outcome", result, "err", jobErr)
			return
		}
		if jobErr == nil { // the outcome could not be applied (the item was disabled meanwhile): a failure
			err = j.record(ctx, "", fmt.Errorf("record the outcome: %w", err))
		}
		if err != nil {
			s.log.Error("failover job outcome not recorded; the lock expires and the job fails then", "job", j.rec.JobID, "err", err)
		}
	}
}

// record writes a job's outcome: record, item state, job, event, lock, in one transaction.
func (j *job) record(ctx context.Context, result string, jobErr error) error {
	s, rec := j.s, j.rec
	return s.v.DB().InTx(ctx, func(tx *db.Tx) error {
		if err := s.holding(ctx, tx, j.v.ID, rec.Machine, rec.JobID); err != nil {
			return err
		}
		sev, kind, msg := "info", j.kind+"-succeeded", result
		switch {
		case jobErr != nil:
			rec.State, rec.Error = RecordFailed, jobErr.Error()
			sev, kind, msg = "critical", j.kind+"-failed", fmt.Sprintf("%s of %s failed: %v", kindLabel(rec.Kind), rec.Machine, jobErr)
			if j.cleanup {
				msg = fmt.Sprintf("cleanup of the test failover of %s failed: %v", rec.Machine, jobErr)
			}
		case j.cleanup:
			if _, err := tx.Exec(ctx, `DELETE FROM failovers WHERE id = ?`, rec.ID); err != nil {
				return err
			}
		default:
			rec.State = RecordSucceeded
			if rec.Kind == KindFailover {
				if err := s.v.SetItemFailoverState(ctx, tx, j.v.ID, rec.Machine, vault.StateFailedOver); err != nil {
					return err
				}
			}
		}
		if !(j.cleanup && jobErr == nil) {
			if err := s.saveRecord(ctx, tx, rec); err != nil {
				return err
			}
		}
		if err := s.v.FinishJob(ctx, tx, rec.JobID, result, jobErr); err != nil {
			return err
		}
		if err := s.v.AddEvent(ctx, tx, j.v.ID, sev, kind, rec.Machine, msg); err != nil {
			return err
		}
		return s.release(ctx, tx, j.v.ID, rec.Machine)
	})
}
