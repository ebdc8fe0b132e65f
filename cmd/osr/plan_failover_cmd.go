package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/apiclient"
	"github.com/opensiterecovery/osr/internal/bootcheck"
	"github.com/opensiterecovery/osr/internal/drill"
	"github.com/opensiterecovery/osr/internal/failover"
	"github.com/opensiterecovery/osr/internal/recoveryplan"
	"github.com/opensiterecovery/osr/internal/vault"
)

// addPlanCommands adds the recovery-plan subcommands (create, list, show, delete, failover, test,
// cleanup, resume) to the `osr plan` command among root's commands (capacity_cmd.go makes it).
func (a *app) addPlanCommands(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() == "plan" {
			c.Short = "Recovery plans (ordered groups of machines that fail over together) and capacity planning"
			c.AddCommand(a.planFailoverCommands()...)
			return
		}
	}
	plan := &cobra.Command{Use: "plan", Short: "Recovery plans: ordered groups of machines that fail over together"}
	plan.AddCommand(a.planFailoverCommands()...)
	root.AddCommand(plan)
}

// planServices are the recovery-plan and drill services of a vault service.
type planServices struct {
	Plans  *recoveryplan.Service
	Drills *drill.Service
	stop   context.CancelFunc
}

// Close stops the drill schedule and the runs going on; call it before the failover service's
// and the vault service's Close.
func (p *planServices) Close() {
	p.stop()
	p.Drills.Close()
	p.Plans.Close()
}

// withPlans adds the recovery-plan and drill endpoints to cfg and returns what builds their
// services once the vault and failover services exist (as withFailover does):
//
//	bindFo, bindPlans := a.withFailover(&cfg), a.withPlans(&cfg)
//	svc, err := vault.New(cfg, deps)
//	fo, err := bindFo(svc)
//	ps, err := bindPlans(svc, fo) // ps.Close() before fo.Close()
//
// The boot check (verify_boot) uses qemu-system-x86_64 from PATH; OSR_BOOTCHECK_MARKER replaces
// the login prompt as the marker and OSR_BOOTCHECK_TIMEOUT (a Go duration) the 5-minute timeout.
// The drill schedule is looked at every 30 s.
func (a *app) withPlans(cfg *vault.Config) func(*vault.Service, *failover.Service) (*planServices, error) {
	papi, dapi := &recoveryplan.API{}, &drill.API{}
	cfg.ExtraRoutes = append(cfg.ExtraRoutes, papi.Routes()...)
	cfg.ExtraRoutes = append(cfg.ExtraRoutes, dapi.Routes()...)
	return func(vs *vault.Service, fs *failover.Service) (*planServices, error) {
		bc, err := a.bootChecker()
		if err != nil {
			return nil, err
		}
		fo := &recoveryplan.FailoverService{Service: fs, Vault: vs}
		plans, err := recoveryplan.New(recoveryplan.Config{Vault: vs, Failover: fo, BootCheck: bc}, recoveryplan.Deps{Clock: a.clock, Logger: a.logger})
		if err != nil {
			return nil, err
		}
		drills, err := drill.New(drill.Config{Vault: vs, Plans: plans, Failover: fo, BootCheck: bc}, drill.Deps{Clock: a.clock, Logger: a.logger})
		if err != nil {
			plans.Close()
			return nil, err
		}
		papi.Bind(plans)
		dapi.Bind(drills)
		ctx, cancel := context.WithCancel(context.Background())
		go drills.Run(ctx)
		return &planServices{Plans: plans, Drills: drills, stop: cancel}, nil
	}
}

func (a *app) bootChecker() (*bootcheck.Checker, error) {
	cfg := bootcheck.Config{}
	if m := a.getenv("OSR_BOOTCHECK_MARKER"); m != "" {
		cfg.Markers = []string{m}
	}
	if t := a.getenv("OSR_BOOTCHECK_TIMEOUT"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("OSR_BOOTCHECK_TIMEOUT %q is not a positive duration", t)
		}
		cfg.Timeout = d
	}
	return bootcheck.New(cfg, bootcheck.Deps{Logger: a.logger})
}

// runFlags are the flags of plan failover, test and cleanup.
type runFlags struct {
	req    recoveryplan.RunRequest
	noWait bool
}

func (a *app) planFailoverCommands() []*cobra.Command {
	f := &apiFlags{}
	var cmds []*cobra.Command
	add := func(c *cobra.Command) {
		f.register(c, true)
		c.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")
		cmds = append(cmds, c)
	}

	var file, desc string
	var groups, names, befores, afters, pauseBefore, pauseAfter []string
	create := &cobra.Command{
		Use:   "create NAME (--group M1,M2 ... | --file PLAN.yaml)",
		Short: "Create a recovery plan: ordered groups of protected machines, with scripts and manual steps",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := planRequest(args[0], file, desc, groups, names, befores, afters, pauseBefore, pauseAfter)
			if err != nil {
				return err
			}
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			p, err := c.CreatePlan(cmd.Context(), v, *req)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(p)
			}
			fmt.Fprintf(a.stdout, "recovery plan %s created: %d groups, %d machines\n", p.Name, len(p.Groups), p.Machines)
			return nil
		},
	}
	create.Flags().StringVar(&file, "file", "", "plan file (YAML or JSON: name, description, groups[] of name, machines, before, after, pause_before, pause_after)")
	create.Flags().StringVar(&desc, "description", "", "what the plan is for")
	create.Flags().StringArrayVar(&groups, "group", nil, "machines of the next group, comma-separated (repeat, in order)")
	create.Flags().StringArrayVar(&names, "group-name", nil, "N=NAME: name of group N (1-based)")
	create.Flags().StringArrayVar(&befores, "before", nil, "N=SCRIPT: script run on the vault host before group N")
	create.Flags().StringArrayVar(&afters, "after", nil, "N=SCRIPT: script run on the vault host after group N")
	create.Flags().StringArrayVar(&pauseBefore, "pause-before", nil, "N=MESSAGE: a manual step before group N (osr plan resume)")
	create.Flags().StringArrayVar(&pauseAfter, "pause-after", nil, "N=MESSAGE: a manual step after group N (osr plan resume)")
	add(create)

	add(&cobra.Command{
		Use: "list", Short: "List recovery plans", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			ps, err := c.ListPlans(cmd.Context(), v)
			if err != nil || f.json {
				return orJSON(a, ps, err)
			}
			a.table("NAME\tGROUPS\tMACHINES\tCREATED\tDESCRIPTION", func(w io.Writer) {
				for _, p := range ps {
					fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\n", p.Name, len(p.Groups), p.Machines, fmtTime(&p.Created), orDash(p.Description))
				}
			})
			return nil
		},
	})

	var runID string
	show := &cobra.Command{
		Use: "show NAME [--run ID]", Short: "Show a plan's groups and its latest run (or the run given) step by step", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			p, err := c.GetPlan(cmd.Context(), v, args[0])
			if err != nil {
				return err
			}
			var run *recoveryplan.Run
			if runID == "" {
				runs, err := c.ListPlanRuns(cmd.Context(), v, p.Name)
				if err != nil {
					return err
				}
				if len(runs) > 0 {
					runID = runs[0].ID
				}
			}
			if runID != "" {
				if run, err = c.GetPlanRun(cmd.Context(), v, p.Name, runID); err != nil {
					return err
				}
			}
			if f.json {
				return a.printJSON(map[string]any{"plan": p, "run": run})
			}
			a.printPlan(p)
			if run != nil {
				fmt.Fprintln(a.stdout)
				a.printRun(run)
			}
			return nil
		},
	}
	show.Flags().StringVar(&runID, "run", "", "the run to show (default: the latest)")
	add(show)

	add(&cobra.Command{
		Use: "delete NAME", Short: "Delete a recovery plan and its runs (not while a run goes on)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			if err := c.DeletePlan(cmd.Context(), v, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "recovery plan %s deleted\n", args[0])
			return nil
		},
	})

	pointHelp := "recovery point of every machine: latest, latest-processed, latest-app-consistent, a point ID or an RFC 3339 time"
	runCmd := func(use, short, op string) *cobra.Command {
		var rf runFlags
		cmd := &cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, v, err := a.clientVault(cmd, f)
				if err != nil {
					return err
				}
				run, err := c.StartPlanRun(cmd.Context(), v, args[0], op, rf.req)
				if err != nil {
					return err
				}
				return a.followRun(cmd.Context(), c, f, v, run, rf.noWait)
			},
		}
		if op != recoveryplan.OpCleanup {
			cmd.Flags().StringVar(&rf.req.Point, "point", "", pointHelp+" (default: the failover service's)")
			cmd.Flags().StringVar(&rf.req.Target, "target", "", "failover target (default: the vault's only one)")
			cmd.Flags().BoolVar(&rf.req.VerifyBoot, "verify-boot", false, "boot each failed-over machine (qemu, TCG) and wait for its login prompt")
		}
		switch op {
		case recoveryplan.OpFailover:
			cmd.Flags().BoolVar(&rf.req.ShutdownSource, "shutdown-source", false, "planned failover: stop each source and send a last sync first")
		case recoveryplan.OpTestFailover:
			cmd.Flags().StringVar(&rf.req.Network, "network", "", "test network for every NIC (default: each mapping's test network)")
		}
		cmd.Flags().BoolVar(&rf.noWait, "no-wait", false, "print the run and return at once")
		return cmd
	}
	add(runCmd("failover NAME", "Fail the plan's machines over, group by group", recoveryplan.OpFailover))
	add(runCmd("test NAME", "Test failover of the plan's machines into an isolated network, group by group; replication goes on", recoveryplan.OpTestFailover))
	add(runCmd("cleanup NAME", "Remove the test failovers of the plan's machines (groups in reverse order)", recoveryplan.OpCleanup))

	var resumeNoWait bool
	resume := &cobra.Command{
		Use: "resume NAME", Short: "Resume the plan's run paused at a manual step", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			run, err := c.ResumePlan(cmd.Context(), v, args[0])
			if err != nil {
				return err
			}
			run.State = recoveryplan.StateRunning // it was paused until now
			return a.followRun(cmd.Context(), c, f, v, run, resumeNoWait)
		},
	}
	resume.Flags().BoolVar(&resumeNoWait, "no-wait", false, "return at once")
	add(resume)
	return cmds
}

func orJSON(a *app, v any, err error) error {
	if err != nil {
		return err
	}
	return a.printJSON(v)
}

// planRequest builds a plan from a file or from flags.
func planRequest(name, file, desc string, groups, names, befores, afters, pauseBefore, pauseAfter []string) (*recoveryplan.CreateRequest, error) {
	if file != "" {
		if len(groups)+len(names)+len(befores)+len(afters)+len(pauseBefore)+len(pauseAfter) > 0 {
			return nil, errors.New("give the groups in --file or with --group flags, not both")
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		req, err := recoveryplan.ParseFile(b)
		if err != nil {
			return nil, err
		}
		if req.Name != "" && req.Name != name {
			return nil, fmt.Errorf("the plan file names plan %q, not %q", req.Name, name)
		}
		req.Name = name
		if desc != "" {
			req.Description = desc
		}
		return req, nil
	}
	if len(groups) == 0 {
		return nil, errors.New("give the plan's groups: --group M1,M2 (repeat in order) or --file PLAN.yaml")
	}
	req := &recoveryplan.CreateRequest{Name: name, Description: desc}
	for _, g := range groups {
		var ms []string
		for _, m := range strings.Split(g, ",") {
			if m = strings.TrimSpace(m); m != "" {
				ms = append(ms, m)
			}
		}
		req.Groups = append(req.Groups, recoveryplan.Group{Machines: ms})
	}
	for _, x := range []struct {
		flag string
		vals []string
		set  func(g *recoveryplan.Group, v string)
	}{
		{"--group-name", names, func(g *recoveryplan.Group, v string) { g.Name = v }},
		{"--before", befores, func(g *recoveryplan.Group, v string) { g.Before = v }},
		{"--after", afters, func(g *recoveryplan.Group, v string) { g.After = v }},
		{"--pause-before", pauseBefore, func(g *recoveryplan.Group, v string) { g.PauseBefore = v }},
		{"--pause-after", pauseAfter, func(g *recoveryplan.Group, v string) { g.PauseAfter = v }},
	} {
		for _, kv := range x.vals {
			k, v, ok := strings.Cut(kv, "=")
			n, err := strconv.Atoi(k)
			if !ok || err != nil || n < 1 || n > len(req.Groups) {
				return nil, fmt.Errorf("%s %q: want N=VALUE with N a group number from 1 to %d", x.flag, kv, len(req.Groups))
			}
			x.set(&req.Groups[n-1], v)
		}
	}
	return req, nil
}

func (a *app) printPlan(p *recoveryplan.Plan) {
	fmt.Fprintf(a.stdout, "recovery plan %s (vault %s): %d machines", p.Name, p.Vault, p.Machines)
	if p.Description != "" {
		fmt.Fprintf(a.stdout, " — %s", p.Description)
	}
	fmt.Fprintln(a.stdout)
	for i, g := range p.Groups {
		fmt.Fprintf(a.stdout, "  %d. %s: %s\n", i+1, g.Name, strings.Join(g.Machines, ", "))
		for _, s := range []struct{ k, v string }{{"pause before", g.PauseBefore}, {"before", g.Before}, {"after", g.After}, {"pause after", g.PauseAfter}} {
			if s.v != "" {
				fmt.Fprintf(a.stdout, "     %s: %s\n", s.k, s.v)
			}
		}
	}
}

func (a *app) printRun(r *recoveryplan.Run) {
	fmt.Fprintf(a.stdout, "run %s: %s, %s (%s), started %s by %s\n", r.ID, r.Operation, r.State, r.Step, fmtTime(&r.Started), r.CreatedBy)
	if r.Error != "" {
		fmt.Fprintf(a.stdout, "error: %s\n", r.Error)
	}
	a.table("GROUP\tSTEP\tNAME\tSTATE\tPOINT\tSECONDS\tBOOT\tERROR", func(w io.Writer) {
		for _, st := range r.Steps {
			secs, boot := "-", "-"
			if st.Started != nil && st.Ended != nil {
				secs = fmt.Sprintf("%.1f", st.Ended.Sub(*st.Started).Seconds())
			}
			if st.BootSeconds > 0 {
				boot = fmt.Sprintf("%.1fs", st.BootSeconds)
			}
			msg, _, _ := strings.Cut(st.Error, "\n")
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", st.Group, st.Kind, st.Name, st.State, orDash(st.PointID), secs, boot, orDash(msg))
		}
	})
}

// followRun waits for a run to end or pause (unless noWait), printing step changes to stderr,
// then prints it; a failed run is an error.
func (a *app) followRun(ctx context.Context, c *apiclient.Client, f *apiFlags, v string, r *recoveryplan.Run, noWait bool) error {
	last := ""
	for !noWait && r.State == recoveryplan.StateRunning {
		if r.Step != last {
			fmt.Fprintf(a.stderr, "run %s: %s\n", r.ID, r.Step)
			last = r.Step
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting for run %s (it goes on; osr plan show %s): %w", r.ID, r.Plan, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
		var err error
		if r, err = c.GetPlanRun(ctx, v, r.Plan, r.ID); err != nil {
			return err
		}
	}
	if f.json {
		if err := a.printJSON(r); err != nil {
			return err
		}
	} else {
		a.printRun(r)
	}
	switch r.State {
	case recoveryplan.StatePaused:
		fmt.Fprintf(a.stdout, "%s; resume with: osr plan resume %s\n", r.Step, r.Plan)
	case recoveryplan.StateFailed:
		return fmt.Errorf("plan %s of %s failed (run %s): %s", r.Operation, r.Plan, r.ID, r.Error)
	}
	return nil
}
