package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/apiclient"
	"github.com/opensiterecovery/osr/internal/failover"
	"github.com/opensiterecovery/osr/internal/vault"
)

// failoverCommands are failover, migration, network-mapping and target (failover_*.go).
func (a *app) failoverCommands() []*cobra.Command {
	return []*cobra.Command{a.failoverCommand(), a.migrationCommand(), a.networkMappingCommand(), a.targetCommand()}
}

// opFlags are the flags of operations that run as jobs.
type opFlags struct {
	noWait bool
}

func (o *opFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.noWait, "no-wait", false, "print the job and return at once (follow it with osr jobs show ID)")
}

// finishOp prints an operation; unless noWait it follows its job to the end, printing progress
// to stderr, and fails when the job fails.
func (a *app) finishOp(ctx context.Context, c *apiclient.Client, f *apiFlags, o opFlags, what string, op *failover.Operation) error {
	if o.noWait {
		if f.json {
			return a.printJSON(op)
		}
		fmt.Fprintf(a.stdout, "%s started: job %s\n", what, op.Job.ID)
		return nil
	}
	j, err := a.followJob(ctx, c, op.Job)
	if err != nil {
		return err
	}
	if f.json {
		op.Job = j
		return a.printJSON(op)
	}
	if j.State == vault.JobFailed {
		return fmt.Errorf("%s failed (job %s): %s", what, j.ID, j.Error)
	}
	fmt.Fprintln(a.stdout, j.Result)
	return nil
}

func (a *app) followJob(ctx context.Context, c *apiclient.Client, j *vault.Job) (*vault.Job, error) {
	last := -1.0
	for j.State == vault.JobRunning {
		if j.Progress != last {
			fmt.Fprintf(a.stderr, "job %s: %.1f%%\n", j.ID, j.Progress)
			last = j.Progress
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("stopped waiting for job %s (it goes on; osr jobs show %s): %w", j.ID, j.ID, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
		var err error
		if j, err = c.GetJob(ctx, j.ID); err != nil {
			return nil, err
		}
	}
	return j, nil
}

const verifyBootHelp = "boot the machine from its new disks (qemu, TCG; local targets) and wait for its login prompt; the job fails when it does not boot (the disks stay)"

func (a *app) failoverCommand() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "failover", Short: "Test failover, failover, commit, change of recovery point, NIC settings"}
	f.register(cmd, true)
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")
	pointHelp := "recovery point: latest, latest-processed, latest-app-consistent, a point ID (or unique prefix) or an RFC 3339 time"

	var tr failover.TestRequest
	var to opFlags
	test := &cobra.Command{
		Use: "test MACHINE [--point P] [--network NET] [--target T] [--verify-boot]", Short: "Test failover into an isolated network; replication goes on", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			op, err := c.TestFailover(cmd.Context(), v, args[0], tr)
			if err != nil {
				return err
			}
			return a.finishOp(cmd.Context(), c, f, to, "test failover of "+args[0], op)
		},
	}
	test.Flags().StringVar(&tr.Point, "point", "latest-processed", pointHelp)
	test.Flags().StringVar(&tr.Network, "network", "", "test network for every NIC (default: each network mapping's test network)")
	test.Flags().StringVar(&tr.Target, "target", "", "failover target (default: the vault's only one)")
	test.Flags().BoolVar(&tr.VerifyBoot, "verify-boot", false, verifyBootHelp)
	to.register(test)

	var co opFlags
	cleanup := &cobra.Command{
		Use: "cleanup MACHINE", Short: "Remove everything a test failover made", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			op, err := c.CleanupTestFailover(cmd.Context(), v, args[0])
			if err != nil {
				return err
			}
			return a.finishOp(cmd.Context(), c, f, co, "cleanup of the test failover of "+args[0], op)
		},
	}
	co.register(cleanup)

	var fr failover.FailoverRequest
	var ro opFlags
	run := &cobra.Command{
		Use: "run MACHINE [--point P] [--shutdown-source] [--target T] [--verify-boot]", Short: "Fail a machine over (planned with --shutdown-source); replication stops", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			req := fr
			if req.ShutdownSource && !cmd.Flags().Changed("point") {
				req.Point = failover.PointLatest
			}
			op, err := c.Failover(cmd.Context(), v, args[0], req)
			if err != nil {
				return err
			}
			return a.finishOp(cmd.Context(), c, f, ro, "failover of "+args[0], op)
		},
	}
	run.Flags().StringVar(&fr.Point, "point", "latest-processed", pointHelp+" (with --shutdown-source: the final sync's point)")
	run.Flags().BoolVar(&fr.ShutdownSource, "shutdown-source", false, "planned failover: stop the source's writes, send a last sync and fail over from it")
	run.Flags().StringVar(&fr.Target, "target", "", "failover target (default: the vault's only one)")
	run.Flags().BoolVar(&fr.VerifyBoot, "verify-boot", false, verifyBootHelp)
	ro.register(run)

	commit := &cobra.Command{
		Use: "commit MACHINE", Short: "Commit a failover (its recovery point can no longer change)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			op, err := c.CommitFailover(cmd.Context(), v, args[0])
			if err != nil {
				return err
			}
			return a.finishOp(cmd.Context(), c, f, opFlags{}, "commit of the failover of "+args[0], op)
		},
	}

	var cp failover.ChangePointRequest
	var cpo opFlags
	change := &cobra.Command{
		Use: "change-point MACHINE --point P", Short: "Redo a failed-over machine's disks from another recovery point (before commit)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			op, err := c.ChangeRecoveryPoint(cmd.Context(), v, args[0], cp)
			if err != nil {
				return err
			}
			return a.finishOp(cmd.Context(), c, f, cpo, "change of the recovery point of "+args[0], op)
		},
	}
	change.Flags().StringVar(&cp.Point, "point", "", pointHelp)
	change.MarkFlagRequired("point")
	cpo.register(change)

	cmd.AddCommand(test, cleanup, run, commit, change, a.failoverStatusCommand(f), a.failoverListCommand(f), a.failoverNICCommand(f))
	return cmd
}

func (a *app) failoverStatusCommand(f *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use: "status MACHINE", Short: "Failover status of a machine", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			st, err := c.FailoverStatus(cmd.Context(), v, args[0])
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(st)
			}
			fmt.Fprintf(a.stdout, "machine %s: %s\n", st.Machine, st.ItemState)
			if st.Running != nil {
				fmt.Fprintf(a.stdout, "running: %s (job %s)\n", st.Running.Operation, st.Running.JobID)
			}
			a.printRecords([]*failover.Record{st.Test, st.Failover})
			return nil
		},
	}
}

func (a *app) failoverListCommand(f *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "Failover and test-failover records of the vault", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			recs, err := c.ListFailovers(cmd.Context(), v)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(recs)
			}
			ptrs := make([]*failover.Record, len(recs))
			for i := range recs {
				ptrs[i] = &recs[i]
			}
			a.printRecords(ptrs)
			return nil
		},
	}
}

func (a *app) printRecords(recs []*failover.Record) {
	a.table("MACHINE\tKIND\tSTATE\tPOINT\tPOINT TIME\tTARGET\tLOCATION\tBOOT CHECK\tERROR", func(w io.Writer) {
		for _, r := range recs {
			if r == nil {
				continue
			}
			loc := "-"
			if r.Result != nil {
				loc = r.Result.Location
			}
			pt := r.PointID
			if len(pt) > 12 {
				pt = pt[:12]
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Machine, r.Kind, r.State, orDash(pt), fmtTime(r.PointTime), r.Target, loc, bootCheckCell(r), orDash(firstLine(r.Error)))
		}
	})
}

func (a *app) failoverNICCommand(f *apiFlags) *cobra.Command {
	var req failover.SetNICRequest
	cmd := &cobra.Command{
		Use: "nic MACHINE NIC --ip-mode keep|dhcp|static [--address CIDR] [--gateway IP]", Short: "Set how a NIC gets its address on the target", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			n, err := c.SetNIC(cmd.Context(), v, args[0], args[1], req)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(n)
			}
			fmt.Fprintf(a.stdout, "nic %s of %s: %s %s\n", n.NIC, args[0], n.IPMode, n.Address)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.IPMode, "ip-mode", "", "keep (the source's address), dhcp or static")
	cmd.Flags().StringVar(&req.Address, "address", "", "static address with its prefix length (10.1.0.5/24)")
	cmd.Flags().StringVar(&req.Gateway, "gateway", "", "static gateway")
	cmd.MarkFlagRequired("ip-mode")
	return cmd
}

func (a *app) migrationCommand() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "migration", Short: "Complete the migration of failed-over machines"}
	f.register(cmd, true)
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")
	var req failover.CompleteMigrationRequest
	complete := &cobra.Command{
		Use: "complete MACHINE [--remove-agent]", Short: "Stop replication for good; the target machine and the history stay", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			op, err := c.CompleteMigration(cmd.Context(), v, args[0], req)
			if err != nil {
				return err
			}
			return a.finishOp(cmd.Context(), c, f, opFlags{}, "completion of the migration of "+args[0], op)
		},
	}
	complete.Flags().BoolVar(&req.RemoveAgent, "remove-agent", false, "uninstall the mobility agent from the source machine")
	cmd.AddCommand(complete)
	return cmd
}

// bootCheckCell says how a record's boot check went: "passed 6.4s", "failed 5.0s", "pending"
// (asked for, not ended) or "-".
func bootCheckCell(r *failover.Record) string {
	switch {
	case r.BootCheck != nil && r.BootCheck.Passed:
		return fmt.Sprintf("passed %.1fs", r.BootCheck.Duration.Seconds())
	case r.BootCheck != nil:
		return fmt.Sprintf("failed %.1fs", r.BootCheck.Duration.Seconds())
	case r.VerifyBoot && r.State == failover.RecordRunning:
		return "pending"
	}
	return "-"
}

// firstLine is s up to its first newline (a boot check's error goes on with the console's
// lines: osr failover status --json shows them).
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
