package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/apiclient"
	"github.com/opensiterecovery/osr/internal/drill"
)

// drillCommands are `osr drill schedule|list|report|run|delete`.
func (a *app) drillCommands() []*cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "drill", Short: "Disaster-recovery drills: test failover + boot check + cleanup on a schedule, with reports"}
	f.register(cmd, true)
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")

	var req drill.CreateRequest
	schedule := &cobra.Command{
		Use:   "schedule PLAN|MACHINE --cron \"MIN HOUR DOM MON DOW\" [--verify-boot]",
		Short: "Schedule a drill of a recovery plan or a protected machine",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.Cron == "" {
				return errors.New("--cron is required, for example --cron \"30 2 * * sun\" (Sundays at 02:30)")
			}
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			r := req
			// A plan of that name first, else a machine.
			if _, err := c.GetPlan(cmd.Context(), v, args[0]); err == nil {
				r.Plan = args[0]
			} else if ae := (*apiclient.Error)(nil); errors.As(err, &ae) && ae.Status == 404 {
				if _, err := c.GetItem(cmd.Context(), v, args[0]); err != nil {
					if errors.As(err, &ae) && ae.Status == 404 {
						return fmt.Errorf("vault %s has no recovery plan and no protected machine named %s", v, args[0])
					}
					return err
				}
				r.Machine = args[0]
			} else {
				return err
			}
			d, err := c.CreateDrill(cmd.Context(), v, r)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(d)
			}
			fmt.Fprintf(a.stdout, "drill %s of %s scheduled (%s); next run %s\n", d.Name, subjectOf(d), d.Cron, fmtTime(&d.NextRun))
			return nil
		},
	}
	fl := schedule.Flags()
	fl.StringVar(&req.Cron, "cron", "", "when: minute hour day-of-month month day-of-week, or @daily, @weekly, ...")
	fl.StringVar(&req.Name, "name", "", "the drill's name (default: the plan's or machine's)")
	fl.BoolVar(&req.VerifyBoot, "verify-boot", false, "boot each failed-over machine (qemu, TCG) before the cleanup")
	fl.StringVar(&req.Point, "point", "", "recovery point (default: the failover service's)")
	fl.StringVar(&req.Network, "network", "", "test network for every NIC (default: each mapping's test network)")
	fl.StringVar(&req.Target, "target", "", "failover target (default: the vault's only one)")
	fl.StringVar(&req.Timezone, "timezone", "", "IANA time zone of the cron expression (default UTC)")
	cmd.AddCommand(schedule)

	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List drills with their next run and last result", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			ds, err := c.ListDrills(cmd.Context(), v)
			if err != nil || f.json {
				return orJSON(a, ds, err)
			}
			last := map[string]string{}
			for _, d := range ds {
				last[d.Name] = "-"
				if rs, err := c.DrillReports(cmd.Context(), v, d.Name, 1); err == nil && len(rs) > 0 {
					last[d.Name] = reportSummary(&rs[0])
				}
			}
			a.table("NAME\tOF\tCRON\tBOOT\tNEXT RUN\tLAST", func(w io.Writer) {
				for _, d := range ds {
					boot := "no"
					if d.Options.VerifyBoot {
						boot = "yes"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, subjectOf(&d), d.Cron, boot, fmtTime(&d.NextRun), last[d.Name])
				}
			})
			return nil
		},
	})

	var lastN int
	report := &cobra.Command{
		Use: "report NAME [--last N]", Short: "Show a drill's reports, newest first: point, RTO, boot time, success, errors", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			rs, err := c.DrillReports(cmd.Context(), v, args[0], lastN)
			if err != nil || f.json {
				return orJSON(a, rs, err)
			}
			if len(rs) == 0 {
				fmt.Fprintf(a.stdout, "drill %s has not run yet\n", args[0])
			}
			for i := range rs {
				a.printReport(&rs[i])
			}
			return nil
		},
	}
	report.Flags().IntVar(&lastN, "last", 5, "how many reports")
	cmd.AddCommand(report)

	var noWait bool
	run := &cobra.Command{
		Use: "run NAME", Short: "Run a drill now (its schedule stays) and print its report", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			before, err := c.DrillReports(cmd.Context(), v, args[0], 1)
			if err != nil {
				return err
			}
			if _, err := c.RunDrill(cmd.Context(), v, args[0]); err != nil {
				return err
			}
			if noWait {
				fmt.Fprintf(a.stdout, "drill %s started\n", args[0])
				return nil
			}
			r, err := waitReport(cmd.Context(), c, v, args[0], before)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(r)
			}
			a.printReport(r)
			if !r.Success {
				return fmt.Errorf("drill %s failed: %s", args[0], r.Error)
			}
			return nil
		},
	}
	run.Flags().BoolVar(&noWait, "no-wait", false, "return at once")
	cmd.AddCommand(run)

	cmd.AddCommand(&cobra.Command{
		Use: "delete NAME", Short: "Delete a drill and its reports", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			if err := c.DeleteDrill(cmd.Context(), v, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "drill %s deleted\n", args[0])
			return nil
		},
	})
	return []*cobra.Command{cmd}
}

// waitReport waits for a report newer than before.
func waitReport(ctx context.Context, c *apiclient.Client, v, name string, before []drill.Report) (*drill.Report, error) {
	for {
		rs, err := c.DrillReports(ctx, v, name, 1)
		if err != nil {
			return nil, err
		}
		if len(rs) > 0 && (len(before) == 0 || rs[0].ID != before[0].ID) {
			return &rs[0], nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("stopped waiting for drill %s (it goes on; osr drill report %s): %w", name, name, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func subjectOf(d *drill.Drill) string {
	if d.Plan != "" {
		return "plan " + d.Plan
	}
	return "machine " + d.Machine
}

func reportSummary(r *drill.Report) string {
	if r.Success {
		return fmt.Sprintf("ok %s (RTO %.1fs)", fmtTime(&r.Started), r.RTOSeconds)
	}
	return "FAILED " + fmtTime(&r.Started)
}

func (a *app) printReport(r *drill.Report) {
	state := "succeeded"
	if !r.Success {
		state = "FAILED"
	}
	fmt.Fprintf(a.stdout, "drill %s scheduled %s, ran %s → %s: %s, RTO %.1fs\n", r.Drill, fmtTime(&r.Scheduled), fmtTime(&r.Started), fmtTime(&r.Ended), state, r.RTOSeconds)
	if r.Error != "" {
		msg, _, _ := strings.Cut(r.Error, "\n")
		fmt.Fprintf(a.stdout, "error: %s\n", msg)
	}
	a.table("  MACHINE\tPOINT\tRTO\tBOOT\tCLEANUP\tERROR", func(w io.Writer) {
		for _, m := range r.Machines {
			boot := "-"
			if m.Booted != nil {
				boot = "no"
				if *m.Booted {
					boot = fmt.Sprintf("%.1fs", m.BootSeconds)
				}
			}
			cleanup := "ok"
			if m.CleanupError != "" {
				cleanup = m.CleanupError
			}
			msg, _, _ := strings.Cut(m.Error, "\n")
			fmt.Fprintf(w, "  %s\t%s\t%.1fs\t%s\t%s\t%s\n", m.Machine, orDash(m.PointID), m.RTOSeconds, boot, cleanup, orDash(msg))
		}
	})
	for _, m := range r.Machines {
		if len(m.Console) > 0 {
			fmt.Fprintf(a.stdout, "  console of %s:\n    %s\n", m.Machine, strings.Join(m.Console, "\n    "))
		}
	}
	fmt.Fprintln(a.stdout)
}
