package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/bootcheck"
	"github.com/opensiterecovery/osr/internal/recoveryplan"
	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

// Report is what one firing of a drill did.
type Report struct {
	ID        string    `json:"id"`
	Drill     string    `json:"drill"`
	Scheduled time.Time `json:"scheduled"`
	Started   time.Time `json:"started"`
	Ended     time.Time `json:"ended"`
	Success   bool      `json:"success"`
	// Error is the first thing that went wrong, empty on success.
	Error string `json:"error,omitempty"`
	// PlanRun is the test-failover run of a plan drill.
	PlanRun string `json:"plan_run,omitempty"`
	// RTOSeconds is the wall time of the test failover: start → every machine's disks and
	// definition ready (before the boot check).
	RTOSeconds float64         `json:"rto_seconds"`
	Machines   []MachineReport `json:"machines"`
}

// MachineReport is one machine's part of a drill.
type MachineReport struct {
	Machine string `json:"machine"`
	PointID string `json:"point_id,omitempty"`
	// RTOSeconds is the machine's test failover wall time.
	RTOSeconds float64 `json:"rto_seconds"`
	// Booted is set when a boot check ran: whether the marker appeared; BootSeconds its wall time.
	Booted      *bool   `json:"booted,omitempty"`
	BootSeconds float64 `json:"boot_seconds,omitempty"`
	// Console is the serial console's tail of a boot check that failed.
	Console      []string `json:"console,omitempty"`
	Error        string   `json:"error,omitempty"`
	CleanupError string   `json:"cleanup_error,omitempty"`
}

// Run fires due drills until ctx ends, looking every Config.Poll.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "drill schedule", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick fires every drill whose next run is due by the clock, in the background, and returns how
// many it fired. Each due drill is claimed by moving its next run forward (compare and set), so
// that one vault replica fires it; a drill that missed several instants fires once.
func (s *Service) Tick(ctx context.Context) (int, error) {
	now := s.clock.Now()
	rows, err := s.db.Query(ctx, `SELECT d.`+strings.ReplaceAll(drillCols, ", ", ", d.")+`, v.name FROM drills d JOIN vaults v ON v.id = d.vault_id WHERE d.next_run > 0 AND d.next_run <= ? ORDER BY d.next_run`, ns(now))
	if err != nil {
		return 0, err
	}
	type due struct {
		d     *Drill
		vault string
	}
	var dues []due
	for rows.Next() {
		var vaultName string
		var d Drill
		var opts string
		var next, created int64
		if err := rows.Scan(&d.ID, &d.Name, &d.Plan, &d.Machine, &d.Cron, &opts, &next, &d.CreatedBy, &created, &vaultName); err != nil {
			rows.Close()
			return 0, err
		}
		if err := json.Unmarshal([]byte(opts), &d.Options); err != nil {
			rows.Close()
			return 0, fmt.Errorf("drill %s: stored options: %w", d.Name, err)
		}
		d.Vault, d.NextRun, d.Created = vaultName, fromNS(next), fromNS(created)
		dues = append(dues, due{&d, vaultName})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	fired := 0
	for _, x := range dues {
		sch, loc, err := schedule(x.d.Cron, x.d.Options.Timezone)
		if err != nil {
			s.log.WarnContext(ctx, "drill has a bad schedule", "drill", x.d.Name, "err", err)
			continue
		}
		next := sch.Next(now.In(loc))
		res, err := s.db.Exec(ctx, `UPDATE drills SET next_run = ? WHERE id = ? AND next_run = ?`, ns(next), x.d.ID, ns(x.d.NextRun))
		if err != nil {
			return fired, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // another replica took it
		}
		s.fire(x.d, x.d.NextRun)
		fired++
	}
	return fired, nil
}

// RunNow fires a drill at once (its schedule stays as it is).
func (s *Service) RunNow(ctx context.Context, vaultName, name string) (*Drill, error) {
	d, err := s.Get(ctx, vaultName, name)
	if err != nil {
		return nil, err
	}
	s.fire(d, s.clock.Now())
	return d, nil
}

// fire runs the drill in the background and records its report.
func (s *Service) fire(d *Drill, scheduled time.Time) {
	s.mu.Lock()
	busy := s.running[d.ID]
	if !busy {
		s.running[d.ID] = true
	}
	s.mu.Unlock()
	s.bg.Go(vault.Actor{User: "drill:" + d.Name, Role: vault.RoleOperator}, func(ctx context.Context) {
		rep := &Report{ID: randomID("drep-"), Drill: d.Name, Scheduled: scheduled.UTC(), Started: s.clock.Now().UTC(), Machines: []MachineReport{}}
		if busy {
			rep.Error = fmt.Sprintf("the previous firing of drill %s is still going on", d.Name)
		} else {
			defer func() {
				s.mu.Lock()
				delete(s.running, d.ID)
				s.mu.Unlock()
			}()
			s.log.InfoContext(ctx, "drill started", "drill", d.Name, "scheduled", scheduled)
			if d.Plan != "" {
				s.planDrill(ctx, d, rep)
			} else {
				s.machineDrill(ctx, d, rep)
			}
		}
		rep.Ended = s.clock.Now().UTC()
		rep.Success = rep.Error == ""
		if err := s.saveReport(context.WithoutCancel(ctx), d, rep); err != nil {
			s.log.ErrorContext(ctx, "save drill report", "drill", d.Name, "err", err)
		}
		s.log.InfoContext(ctx, "drill ended", "drill", d.Name, "success", rep.Success, "err", rep.Error)
	})
}

// fail records the first error of a drill.
func (r *Report) fail(format string, args ...any) {
	if r.Error == "" {
		r.Error = fmt.Sprintf(format, args...)
	}
}

func (s *Service) machineDrill(ctx context.Context, d *Drill, rep *Report) {
	o := d.Options
	mr := MachineReport{Machine: d.Machine}
	defer func() { rep.Machines = append(rep.Machines, mr) }()
	t0 := time.Now()
	jobID, err := s.cfg.Failover.TestFailover(ctx, d.Vault, d.Machine, recoveryplan.MachineOptions{Point: o.Point, Network: o.Network, Target: o.Target})
	var out *recoveryplan.Outcome
	if err == nil {
		out, err = s.cfg.Failover.Wait(ctx, jobID)
	}
	mr.RTOSeconds = time.Since(t0).Seconds()
	rep.RTOSeconds = mr.RTOSeconds
	if err != nil {
		mr.Error = "test failover: " + err.Error()
		rep.fail("test failover of %s: %v", d.Machine, err)
	} else {
		if out == nil {
			out = &recoveryplan.Outcome{}
		}
		mr.PointID = out.PointID
		if o.VerifyBoot {
			s.boot(ctx, out.DefinitionFile, &mr, rep)
		}
	}
	if jobID != "" {
		if err := s.cleanup(ctx, d.Vault, d.Machine); err != nil {
			mr.CleanupError = err.Error()
			rep.fail("cleanup of %s: %v", d.Machine, err)
		}
	}
}

// boot runs the boot check of a failed-over machine into its report.
func (s *Service) boot(ctx context.Context, defFile string, mr *MachineReport, rep *Report) {
	booted := false
	mr.Booted = &booted
	if defFile == "" {
		mr.Error = "boot check: the test failover made no machine definition file"
		rep.fail("boot check of %s: the test failover made no machine definition file", mr.Machine)
		return
	}
	res, err := s.cfg.BootCheck.CheckFile(ctx, defFile)
	if err != nil {
		var te *bootcheck.TimeoutError
		var ee *bootcheck.ExitError
		switch {
		case errors.As(err, &te):
			mr.Console = te.Tail
		case errors.As(err, &ee):
			mr.Console = ee.Tail
		}
		mr.Error = err.Error()
		rep.fail("%v", err)
		return
	}
	booted = true
	mr.BootSeconds = res.Duration.Seconds()
}

func (s *Service) cleanup(ctx context.Context, vaultName, machine string) error {
	ctx = context.WithoutCancel(ctx) // a drill that is stopped still cleans up
	id, err := s.cfg.Failover.Cleanup(ctx, vaultName, machine)
	if err != nil {
		return err
	}
	_, err = s.cfg.Failover.Wait(ctx, id)
	return err
}

func (s *Service) planDrill(ctx context.Context, d *Drill, rep *Report) {
	o := d.Options
	run, err := s.cfg.Plans.Start(ctx, d.Vault, d.Plan, recoveryplan.OpTestFailover, recoveryplan.RunRequest{Point: o.Point, Network: o.Network, Target: o.Target, VerifyBoot: o.VerifyBoot})
	if err != nil {
		rep.fail("test failover of plan %s: %v", d.Plan, err)
		return
	}
	rep.PlanRun = run.ID
	if run, err = s.cfg.Plans.WaitRun(ctx, d.Vault, run.ID); err != nil {
		rep.fail("test failover of plan %s: %v", d.Plan, err)
		return
	}
	if run.Error != "" {
		rep.fail("test failover of plan %s: %s", d.Plan, run.Error)
	}
	for _, st := range run.Steps {
		if st.Kind != recoveryplan.KindMachine {
			continue
		}
		mr := MachineReport{Machine: st.Name, PointID: st.PointID, Error: st.Error}
		if st.Started != nil && st.Ended != nil {
			mr.RTOSeconds = st.Ended.Sub(*st.Started).Seconds() - st.BootSeconds
			// The plan's RTO: from the run's start to the last machine's disks being ready
			// (scripts and pauses included, boot checks not).
			ready := st.Ended.Add(-time.Duration(st.BootSeconds * float64(time.Second)))
			rep.RTOSeconds = max(rep.RTOSeconds, ready.Sub(run.Started).Seconds())
		}
		if o.VerifyBoot && st.State != recoveryplan.StateSkipped && st.State != recoveryplan.StatePending {
			booted := st.State == recoveryplan.StateSucceeded
			mr.Booted = &booted
			mr.BootSeconds = st.BootSeconds
			if !booted && st.Output != "" {
				mr.Console = strings.Split(st.Output, "\n")
			}
		}
		if st.JobID != "" {
			if err := s.cleanup(ctx, d.Vault, st.Name); err != nil {
				mr.CleanupError = err.Error()
				rep.fail("cleanup of %s: %v", st.Name, err)
			}
		}
		rep.Machines = append(rep.Machines, mr)
	}
}

func (s *Service) saveReport(ctx context.Context, d *Drill, rep *Report) error {
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	var vaultID string
	if err := s.db.QueryRow(ctx, `SELECT vault_id FROM drills WHERE id = ?`, d.ID).Scan(&vaultID); err != nil {
		return fmt.Errorf("drill %s is gone: %w", d.Name, err)
	}
	success := int64(0)
	sev, msg := "warning", fmt.Sprintf("drill %s failed: %s", d.Name, rep.Error)
	if rep.Success {
		success, sev = 1, "info"
		msg = fmt.Sprintf("drill %s succeeded: RTO %.1fs", d.Name, rep.RTOSeconds)
	}
	subject := d.Machine
	if subject == "" {
		subject = "plan/" + d.Plan
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO drill_reports (id, drill_id, scheduled, started, ended, success, error, report_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			rep.ID, d.ID, ns(rep.Scheduled), ns(rep.Started), ns(rep.Ended), success, rep.Error, string(b)); err != nil {
			return err
		}
		return s.v.AddEvent(ctx, tx, vaultID, sev, "drill", subject, msg)
	})
}

// Reports returns a drill's reports, newest first (at most limit, default 20).
func (s *Service) Reports(ctx context.Context, vaultName, name string, limit int) ([]*Report, error) {
	d, err := s.Get(ctx, vaultName, name)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 1000 {
		limit = 20
	}
	rows, err := s.db.Query(ctx, `SELECT report_json FROM drill_reports WHERE drill_id = ? ORDER BY scheduled DESC, started DESC LIMIT ?`, d.ID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Report{}
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		var r Report
		if err := json.Unmarshal([]byte(b), &r); err != nil {
			return nil, fmt.Errorf("drill %s: stored report: %w", d.Name, err)
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}
