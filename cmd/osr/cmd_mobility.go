package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/mobility"
	"github.com/opensiterecovery/osr/internal/mobility/state"
)

// Exit codes of the mobility commands beyond 0 (success) and 1 (error).
const (
	exitDivergent  = 2 // verify: the replica differs from the source or from the agent's map
	exitNotRunning = 3 // status: the service is not running
)

// mobilityCommands returns the top-level commands of the mobility area.
func (a *app) mobilityCommands() []*cobra.Command {
	cmd := &cobra.Command{
		Use:   "mobility",
		Short: "The mobility service: protects this machine's disks and replicates them to a process server",
	}
	var config string
	cmd.PersistentFlags().StringVar(&config, "config", "/etc/osr/mobility/mobility.yaml", "configuration file (the one osr mobility install writes)")
	load := func() (*mobility.Config, error) { return mobility.LoadConfig(config) }

	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the mobility service (reconnects to its process server forever)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// An agent installed under a configuration server runs as it says (mobility_managed.go).
			if managed, err := a.serveMobilityManaged(cmd.Context(), config); managed {
				return err
			}
			cfg, err := load()
			if err != nil {
				return err
			}
			ag, err := mobility.New(cfg, mobility.Options{Clock: a.clock, Logger: mobilityLogger(a.stderr, cfg.LogLevel), FreezeGuardian: freezeGuardian()})
			if err != nil {
				return err
			}
			if a.getenv("GOMEMLIMIT") == "" {
				// The agent's working set is small and bounded: buffers, the replica maps (4 MiB per
				// GiB of disk, twice during a resync or verify) and the overlays of two points. A
				// soft limit just above it keeps the RSS near it.
				debug.SetMemoryLimit(48<<20 + 2*ag.StateBytes())
			}
			defer ag.Close()
			return ag.Run(cmd.Context())
		},
	}

	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the service's state, RPO, backlog, throughput and recent events",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			st, err := mobility.QueryStatus(cmd.Context(), cfg.StateDir)
			if errors.Is(err, mobility.ErrNotRunning) {
				st = stoppedStatus(cfg, a.clock.Now())
				a.printStatus(st, asJSON)
				return &exitError{code: exitNotRunning, err: err}
			}
			if err != nil {
				return err
			}
			a.printStatus(st, asJSON)
			return nil
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var verifyJSON bool
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Compare the source disks with the replica's newest point (exit 2 on divergence)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			res, err := mobility.RequestVerify(cmd.Context(), cfg.StateDir)
			running := !errors.Is(err, mobility.ErrNotRunning)
			if !running {
				ag, nerr := mobility.New(cfg, mobility.Options{Clock: a.clock, Logger: mobilityLogger(a.stderr, cfg.LogLevel), NoSocket: true, FreezeGuardian: freezeGuardian()})
				if nerr != nil {
					return nerr
				}
				defer ag.Close()
				res, err = ag.VerifyOnce(cmd.Context())
			}
			if err != nil && !errors.Is(err, mobility.ErrDivergent) {
				return err
			}
			if verifyJSON {
				b, _ := json.MarshalIndent(res, "", "  ")
				fmt.Fprintln(a.stdout, string(b))
			} else {
				fmt.Fprintf(a.stdout, "seq %d (point %s): %d blocks compared, %d differ from the source, %d from the agent's map\n",
					res.Seq, res.Point, res.Blocks, res.SourceDiffers, res.MapDivergent)
			}
			// A running service resends what the replica lost; the source may differ because it is
			// in use. Divergence from the map is an alert either way.
			if res.MapDivergent > 0 || (!running && res.SourceDiffers > 0) {
				return &exitError{code: exitDivergent, err: fmt.Errorf("replica diverges: %d blocks differ from the source, %d from the agent's map", res.SourceDiffers, res.MapDivergent)}
			}
			return nil
		},
	}
	verify.Flags().BoolVar(&verifyJSON, "json", false, "print JSON")

	var captureWait, captureJSON bool
	var captureTimeout time.Duration
	capture := &cobra.Command{
		Use:   "capture",
		Short: "Ask the running service to take a point now",
		Long: "Asks the running mobility service to take a recovery point now instead of at its next interval.\n" +
			"With --wait it returns once a point that holds every write finished before the command is\n" +
			"committed in the vault storage, and prints it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			if !captureWait {
				return mobility.RequestCapture(cmd.Context(), cfg.StateDir)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), captureTimeout)
			defer cancel()
			res, err := mobility.CaptureWait(ctx, cfg.StateDir)
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("no point was committed within %s", captureTimeout)
			}
			if err != nil {
				return err
			}
			if captureJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "point %s committed: seq %d, %s-consistent, captured %s\n",
				res.PointID, res.Seq, res.Kind, res.CaptureTime.UTC().Format(time.RFC3339Nano))
			return nil
		},
	}
	capture.Flags().BoolVar(&captureWait, "wait", false, "wait until the point is committed")
	capture.Flags().DurationVar(&captureTimeout, "timeout", 10*time.Minute, "with --wait, how long to wait")
	capture.Flags().BoolVar(&captureJSON, "json", false, "with --wait, print the point as JSON")
	a.asWindowsService(serve) // the service manager starts serve on Windows (mobility_windows.go)
	cmd.AddCommand(serve, status, verify, capture, a.mobilityInstallCommand(), a.mobilityServiceCommand())
	cmd.AddCommand(a.mobilityDeployCommands()...) // push, uninstall, repo, fetch, deploy (discovery_push.go)
	cmd.AddCommand(a.freezeGuardCommand())
	cmd.AddCommand(a.mobilityProfileCommand()) // profile (capacity_cmd.go)
	return []*cobra.Command{cmd}
}

func mobilityLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// stoppedStatus is what status shows from the state directory when the service is not running.
func stoppedStatus(cfg *mobility.Config, now time.Time) mobility.Status {
	st := mobility.Status{Machine: cfg.Machine, State: mobility.StateStopped, ProcessServer: cfg.ProcessServer, RPOSeconds: -1,
		Tracker: cfg.Tracker, BandwidthCap: cfg.Bandwidth.RateAt(now).String()}
	if as, err := state.LoadAgent(cfg.StateDir); err == nil {
		st.CommittedSeq, st.PointID, st.CaptureTime = as.CommittedSeq, as.PointID, as.CaptureTime
		if !as.CaptureTime.IsZero() {
			st.RPOSeconds = now.Sub(as.CaptureTime).Seconds()
		}
	}
	return st
}

func (a *app) printStatus(st mobility.Status, asJSON bool) {
	if asJSON {
		b, _ := json.MarshalIndent(st, "", "  ")
		fmt.Fprintln(a.stdout, string(b))
		return
	}
	w := a.stdout
	state := st.State
	if st.State == mobility.StateInitialReplication {
		state = fmt.Sprintf("%s %.1f%%", st.State, st.InitialPercent)
	}
	fmt.Fprintf(w, "machine:         %s\n", st.Machine)
	fmt.Fprintf(w, "state:           %s\n", state)
	fmt.Fprintf(w, "process server:  %s (connected: %v)\n", st.ProcessServer, st.Connected)
	rpo := "no point yet"
	if st.RPOSeconds >= 0 {
		rpo = (time.Duration(st.RPOSeconds) * time.Second).String()
	}
	fmt.Fprintf(w, "rpo:             %s (seq %d, point %s)\n", rpo, st.CommittedSeq, st.PointID)
	fmt.Fprintf(w, "backlog:         %d bytes in %d points not yet committed\n", st.BacklogBytes, st.InFlightPoints)
	fmt.Fprintf(w, "throughput:      %.1f MB/s (cap %s)\n", st.ThroughputBps/1e6, st.BandwidthCap)
	fmt.Fprintf(w, "tracker:         %s (%d bytes of state, %d per GiB; %d drops, %d misses, %d gaps)\n",
		st.Tracker, st.TrackingBytes, st.TrackingPerGiB, st.TrackerDrops, st.TrackerMisses, st.TrackerGaps)
	if st.TrackerReason != "" {
		fmt.Fprintf(w, "                 %s\n", st.TrackerReason)
	}
	if st.LastError != "" {
		fmt.Fprintf(w, "last error:      %s (%s)\n", st.LastError, st.LastErrorTime.Format(time.RFC3339))
	}
	if len(st.Events) > 0 {
		fmt.Fprintln(w, "recent events:")
		for _, ev := range st.Events[max(0, len(st.Events)-10):] {
			fmt.Fprintf(w, "  %s %-8s %s %s\n", ev.Time.Format(time.RFC3339), ev.Level, ev.Kind, strings.TrimSpace(ev.Message))
		}
	}
}
