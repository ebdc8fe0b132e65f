package recoveryplan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/bootcheck"
	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

// MachineResult is one machine's outcome in a run's job result.
type MachineResult struct {
	Machine     string  `json:"machine"`
	Group       int     `json:"group"`
	State       string  `json:"state"`
	JobID       string  `json:"job_id,omitempty"`
	PointID     string  `json:"point_id,omitempty"`
	Seconds     float64 `json:"seconds"` // start of the machine's operation to its end (its RTO)
	BootSeconds float64 `json:"boot_seconds,omitempty"`
	Error       string  `json:"error,omitempty"`
}

// RunResult is the result of a run's job.
type RunResult struct {
	Run      string          `json:"run"`
	Machines []MachineResult `json:"machines"`
}

// execute runs the steps in order. A failing step stops the run; the steps after it are skipped.
func (s *Service) execute(ctx context.Context, v *vault.Vault, p *Plan, runID, op string, req RunRequest, steps []Step) {
	start := s.clock.Now()
	total, done := 0, 0
	for _, st := range steps {
		if st.Kind == KindMachine {
			total++
		}
	}
	var runErr error
	for i := 0; i < len(steps) && runErr == nil; {
		st := steps[i]
		g := p.Groups[st.Group-1]
		label := fmt.Sprintf("group %d (%s)", st.Group, g.Name)
		switch st.Kind {
		case KindPause:
			where := "before"
			if i > 0 && steps[i-1].Group == st.Group {
				where = "after"
			}
			runErr = s.pause(ctx, runID, st, fmt.Sprintf("paused %s %s: %s", where, label, st.Name))
			i++
		case KindBefore, KindAfter:
			s.setStep(ctx, runID, fmt.Sprintf("%s: %s script", label, st.Kind))
			runErr = s.script(ctx, v, p, runID, op, st, g, label)
			i++
		case KindMachine:
			j := i
			for j < len(steps) && steps[j].Kind == KindMachine && steps[j].Group == st.Group {
				j++
			}
			s.setStep(ctx, runID, label+": machines")
			runErr = s.machines(ctx, v, runID, op, req, steps[i:j], label, func() {
				done++
				if err := s.v.SetJobProgress(ctx, s.jobOf(ctx, runID), 100*float64(done)/float64(total)); err != nil {
					s.log.WarnContext(ctx, "set plan job progress", "run", runID, "err", err)
				}
			})
			i = j
		}
	}
	s.finish(ctx, runID, runErr, start)
}

func (s *Service) jobOf(ctx context.Context, runID string) string {
	var id string
	s.db.QueryRow(ctx, `SELECT job_id FROM plan_runs WHERE id = ?`, runID).Scan(&id)
	return id
}

func (s *Service) setStep(ctx context.Context, runID, step string) {
	if _, err := s.db.Exec(context.WithoutCancel(ctx), `UPDATE plan_runs SET step = ? WHERE id = ?`, step, runID); err != nil {
		s.log.WarnContext(ctx, "record plan run step", "run", runID, "err", err)
	}
}

// stepState records a step's state; started and jobID are set when non-zero.
func (s *Service) stepState(ctx context.Context, runID string, seq int, state string, started, ended time.Time, jobID, pointID string, boot time.Duration, output, errMsg string) {
	q := `UPDATE plan_run_steps SET state = ?, ended = ?, point_id = ?, boot_ns = ?, output = ?, error = ?`
	args := []any{state, ns(ended), pointID, int64(boot), output, errMsg}
	if !started.IsZero() {
		q += `, started = ?`
		args = append(args, ns(started))
	}
	if jobID != "" {
		q += `, job_id = ?`
		args = append(args, jobID)
	}
	_, err := s.db.Exec(context.WithoutCancel(ctx), q+` WHERE run_id = ? AND seq = ?`, append(args, runID, seq)...)
	if err != nil {
		s.log.WarnContext(ctx, "record plan run step", "run", runID, "seq", seq, "err", err)
	}
}

// pause waits until the run is resumed (or the service stops).
func (s *Service) pause(ctx context.Context, runID string, st Step, msg string) error {
	now := s.clock.Now()
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.wakeup[runID] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.wakeup, runID)
		s.mu.Unlock()
	}()
	var seq int64
	if err := s.db.QueryRow(ctx, `SELECT resume_seq FROM plan_runs WHERE id = ?`, runID).Scan(&seq); err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, `UPDATE plan_runs SET state = ?, step = ?, paused_seq = ? WHERE id = ?`, StatePaused, msg, seq, runID); err != nil {
		return err
	}
	s.stepState(ctx, runID, st.Seq, StateRunning, now, time.Time{}, "", "", 0, "", "")
	s.log.InfoContext(ctx, "recovery plan run paused", "run", runID, "step", msg)
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	for {
		var cur int64
		if err := s.db.QueryRow(ctx, `SELECT resume_seq FROM plan_runs WHERE id = ?`, runID).Scan(&cur); err != nil {
			if ctx.Err() != nil {
				s.stepState(ctx, runID, st.Seq, StateFailed, time.Time{}, s.clock.Now(), "", "", 0, "", "the vault service stopped during the pause")
				return errStopped
			}
			return err
		}
		if cur > seq {
			break
		}
		select {
		case <-ctx.Done():
			s.stepState(ctx, runID, st.Seq, StateFailed, time.Time{}, s.clock.Now(), "", "", 0, "", "the vault service stopped during the pause")
			return errStopped
		case <-ch:
		case <-tick.C:
		}
	}
	if _, err := s.db.Exec(ctx, `UPDATE plan_runs SET state = ? WHERE id = ?`, StateRunning, runID); err != nil {
		return err
	}
	s.stepState(ctx, runID, st.Seq, StateSucceeded, time.Time{}, s.clock.Now(), "", "", 0, "", "")
	return nil
}

// machines runs one group's machines in parallel (at most Config.Parallel at once) and fails when
// any failed, naming each.
func (s *Service) machines(ctx context.Context, v *vault.Vault, runID, op string, req RunRequest, steps []Step, label string, progress func()) error {
	sem := make(chan struct{}, s.cfg.Parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	for _, st := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			err := s.machine(ctx, v, runID, op, req, st)
			mu.Lock()
			defer mu.Unlock()
			progress()
			if err != nil {
				failed = append(failed, st.Name+": "+err.Error())
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		sort.Strings(failed)
		return fmt.Errorf("%s: %d of %d machines failed: %s", label, len(failed), len(steps), strings.Join(failed, "; "))
	}
	return nil
}

// machine runs one machine's operation, then its boot check when asked.
func (s *Service) machine(ctx context.Context, v *vault.Vault, runID, op string, req RunRequest, st Step) error {
	start := s.clock.Now()
	s.stepState(ctx, runID, st.Seq, StateRunning, start, time.Time{}, "", "", 0, "", "")
	opts := MachineOptions{Point: req.Point, Network: req.Network, Target: req.Target, ShutdownSource: req.ShutdownSource}
	var jobID string
	var err error
	switch op {
	case OpFailover:
		jobID, err = s.cfg.Failover.Failover(ctx, v.Name, st.Name, opts)
	case OpTestFailover:
		jobID, err = s.cfg.Failover.TestFailover(ctx, v.Name, st.Name, opts)
	case OpCleanup:
		jobID, err = s.cfg.Failover.Cleanup(ctx, v.Name, st.Name)
	}
	var out *Outcome
	if err == nil {
		s.stepState(ctx, runID, st.Seq, StateRunning, start, time.Time{}, jobID, "", 0, "", "")
		out, err = s.cfg.Failover.Wait(ctx, jobID)
	}
	if err != nil {
		if ctx.Err() != nil {
			err = errStopped
		}
		s.stepState(ctx, runID, st.Seq, StateFailed, start, s.clock.Now(), jobID, "", 0, "", err.Error())
		return err
	}
	if out == nil {
		out = &Outcome{}
	}
	var boot time.Duration
	var console string
	if req.VerifyBoot && op != OpCleanup {
		if out.DefinitionFile == "" {
			err = errors.New("boot check: the failover made no machine definition file")
		} else {
			var res *bootcheck.Result
			res, err = s.cfg.BootCheck.CheckFile(ctx, out.DefinitionFile)
			if res != nil {
				boot, console = res.Duration, strings.Join(res.Console, "\n")
			}
			var te *bootcheck.TimeoutError
			var ee *bootcheck.ExitError
			switch {
			case errors.As(err, &te):
				console = strings.Join(te.Tail, "\n")
			case errors.As(err, &ee):
				console = strings.Join(ee.Tail, "\n")
			}
		}
	}
	state, msg := StateSucceeded, ""
	if err != nil {
		state, msg = StateFailed, err.Error()
	}
	s.stepState(ctx, runID, st.Seq, state, start, s.clock.Now(), jobID, out.PointID, boot, console, msg)
	return err
}

// finish ends the run and its job; the steps that did not run are skipped.
func (s *Service) finish(ctx context.Context, runID string, runErr error, start time.Time) {
	ctx = context.WithoutCancel(ctx)
	state, msg := StateSucceeded, ""
	if runErr != nil {
		state, msg = StateFailed, runErr.Error()
	}
	now := s.clock.Now()
	if _, err := s.db.Exec(ctx, `UPDATE plan_run_steps SET state = ? WHERE run_id = ? AND state = ?`, StateSkipped, runID, StatePending); err != nil {
		s.log.WarnContext(ctx, "skip plan steps", "run", runID, "err", err)
	}
	step := "done"
	if runErr != nil {
		step = "stopped"
	}
	result := RunResult{Run: runID, Machines: []MachineResult{}}
	var vaultName string
	s.db.QueryRow(ctx, `SELECT v.name FROM plan_runs r JOIN vaults v ON v.id = r.vault_id WHERE r.id = ?`, runID).Scan(&vaultName)
	if r, err := s.GetRun(ctx, vaultName, runID); err == nil {
		result.Machines = machineResults(r)
	}
	b, _ := json.Marshal(result)
	jobID := s.jobOf(ctx, runID)
	// The run and its job end together: who sees the run ended sees its job ended.
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE plan_runs SET state = ?, step = ?, error = ?, ended = ? WHERE id = ?`, state, step, msg, ns(now), runID); err != nil {
			return err
		}
		return s.v.FinishJob(ctx, tx, jobID, string(b), runErr)
	})
	if err != nil {
		s.log.ErrorContext(ctx, "finish plan run", "run", runID, "err", err)
	}
	s.log.InfoContext(ctx, "recovery plan run ended", "run", runID, "state", state, "err", msg, "duration", now.Sub(start))
}

// machineResults lists a run's machine steps.
func machineResults(r *Run) []MachineResult {
	out := []MachineResult{}
	for _, st := range r.Steps {
		if st.Kind != KindMachine {
			continue
		}
		mr := MachineResult{Machine: st.Name, Group: st.Group, State: st.State, JobID: st.JobID, PointID: st.PointID, BootSeconds: st.BootSeconds, Error: st.Error}
		if st.Started != nil && st.Ended != nil {
			mr.Seconds = st.Ended.Sub(*st.Started).Seconds()
		}
		out = append(out, mr)
	}
	return out
}

// Machines returns a run's per-machine results.
func (r *Run) Machines() []MachineResult { return machineResults(r) }
