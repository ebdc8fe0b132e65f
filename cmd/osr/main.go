package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/clock"
)

// app holds what every command needs; main wires it, tests can build their own.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	clock          clock.Clock
	logger         *slog.Logger
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit: the collector works harder near it instead of letting the heap double.
		debug.SetMemoryLimit(128 << 20)
	}
	a := &app{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, clock: clock.Real{}}
	a.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if prof := os.Getenv("OSR_CPUPROFILE"); prof != "" { // for performance work
		f, err := os.Create(prof)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	if tr := os.Getenv("OSR_TRACE"); tr != "" { // an execution trace, for performance work
		f, err := os.Create(tr)
		if err == nil && trace.Start(f) == nil {
			defer trace.Stop()
		}
	}
	root := a.rootCommand()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "osr:", err)
		pprof.StopCPUProfile()
		trace.Stop()
		os.Exit(exitCode(err))
	}
}

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return 1
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "osr",
		Short:         "Open Site Recovery: protect and migrate servers to a target site",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.AddCommand(a.storeCommand())
	// Each area of the product registers its commands in its own file.
	for _, area := range [][]*cobra.Command{
		a.pipelineCommands(),     // pki, process-server (cmd_pipeline.go)
		a.mobilityCommands(),     // mobility (cmd_mobility.go)
		a.vaultCommands(),        // vault, policy, replication, recovery-points, users, jobs, alerts (cmd_vault.go)
		a.configServerCommands(), // config-server, account, infrastructure (cmd_configserver.go)
		a.discoveryCommands(),    // vcenter, machines (discovery_cmd.go)
		a.capacityCommands(),     // plan capacity (capacity_cmd.go)
		a.failoverCommands(),     // failover, migration, network-mapping, target (failover_cmd.go)
		a.drillCommands(),        // drill (drill_cmd.go)
	} {
		root.AddCommand(area...)
	}
	a.addPlanCommands(root) // plan create|list|show|failover|test|... beside plan capacity (plan_failover_cmd.go)
	return root
}
