package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/capacity"
	"github.com/opensiterecovery/osr/internal/mobility"
	"github.com/opensiterecovery/osr/internal/mobility/tracker"
	"github.com/opensiterecovery/osr/internal/mobility/tracker/ebpf"
)

// capacityCommands returns the top-level commands of the capacity-planning area: plan capacity.
func (a *app) capacityCommands() []*cobra.Command {
	plan := &cobra.Command{Use: "plan", Short: "Plan the source site's infrastructure before protecting machines"}
	var profiles []string
	var bandwidth, throughput string
	var asJSON bool
	capCmd := &cobra.Command{
		Use:   "capacity",
		Short: "Turn churn profiles (osr mobility profile) into process servers, cache, bandwidth and initial-replication time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(profiles) == 0 {
				return errors.New("plan capacity: give at least one --profile FILE")
			}
			var opts capacity.Options
			if bandwidth != "" {
				r, err := mobility.ParseRate(bandwidth)
				if err != nil {
					return fmt.Errorf("--bandwidth: %w", err)
				}
				opts.Bandwidth = float64(r)
			}
			if throughput != "" {
				r, err := mobility.ParseRate(throughput)
				if err != nil {
					return fmt.Errorf("--ps-throughput: %w", err)
				}
				opts.Throughput = float64(r)
			}
			var ps []*capacity.Profile
			for _, f := range profiles {
				p, err := readProfile(f)
				if err != nil {
					return err
				}
				ps = append(ps, p)
			}
			p, err := capacity.Compute(ps, opts)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(p)
			}
			printPlan(a.stdout, p)
			return nil
		},
	}
	capCmd.Flags().StringArrayVar(&profiles, "profile", nil, "profile document (repeat for each machine)")
	capCmd.Flags().StringVar(&bandwidth, "bandwidth", "", "uplink to the target site, e.g. 100Mbit/s or 20MB/s (default: unknown)")
	capCmd.Flags().StringVar(&throughput, "ps-throughput", "", "what one process server moves (default 140MB/s, osr's measured figure)")
	capCmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	plan.AddCommand(capCmd)
	return []*cobra.Command{plan}
}

func readProfile(path string) (*capacity.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := capacity.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func printPlan(w io.Writer, p *capacity.Plan) {
	b := capacity.FormatBytes
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MACHINE\tDISKS\tSIZE\tUSED\tDAILY CHANGE\tPEAK WRITE")
	for _, m := range p.Machines {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s/s\n", m.Name, m.Disks, b(float64(m.SizeBytes)), b(float64(m.UsedBytes)), b(m.DailyChange), b(m.PeakBytesPerSec))
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintf(w, "process servers:      %d (by %s), each %d vCPU, %s RAM, %s cache\n", p.ProcessServers, p.ProcessServersBy,
		p.VCPUPerServer, b(float64(p.MemoryPerServer)), b(float64(p.CachePerServer)))
	fmt.Fprintf(w, "cache in all:         %s\n", b(float64(p.CacheTotal)))
	fmt.Fprintf(w, "daily change:         %s\n", b(p.DailyChange))
	fmt.Fprintf(w, "bandwidth sustained:  %s/s\n", b(p.SustainedBandwidth))
	fmt.Fprintf(w, "bandwidth for RPO:    %s/s (the machines' peak write rates)\n", b(p.RPOBandwidth))
	fmt.Fprintf(w, "initial replication:  %s of used data in %s at %s/s\n", b(float64(p.TotalUsedBytes)), p.InitialDuration(), b(p.InitialRate))
	for _, x := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", x)
	}
	fmt.Fprintln(w, "assumptions:")
	for _, x := range p.Assumptions {
		fmt.Fprintf(w, "  - %s\n", x)
	}
}

// mobilityProfileCommand is osr mobility profile: it measures churn on the configured disks with
// the agent's tracker, without replicating.
func (a *app) mobilityProfileCommand() *cobra.Command {
	var duration, interval time.Duration
	var asJSON bool
	var out, machine, trk string
	var diskFlags []string
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Measure each disk's churn and peak write rate for capacity planning (replicates nothing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := profileConfig(cmd, machine, trk, diskFlags)
			if err != nil {
				return err
			}
			if duration <= 0 {
				return errors.New("mobility profile: --duration must be more than 0")
			}
			if interval <= 0 || interval > duration {
				interval = duration
			}
			p, err := a.profile(cmd.Context(), cfg, duration, interval)
			if err != nil {
				return err
			}
			if out != "" {
				if err := writeProfile(out, p); err != nil {
					return err
				}
			}
			if asJSON {
				return capacity.Encode(a.stdout, p)
			}
			printProfile(a.stdout, p)
			return nil
		},
	}
	cmd.Flags().StringP("config", "", "/etc/osr/mobility/mobility.yaml", "configuration file (its machine, disks and tracker)")
	cmd.Flags().DurationVar(&duration, "duration", 0, "how long to measure, e.g. 24h (a day or a week shows the daily cycle)")
	cmd.Flags().DurationVar(&interval, "interval", time.Minute, "sample interval (peaks are measured per interval)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the profile document")
	cmd.Flags().StringVar(&out, "out", "", "write the profile document to FILE")
	cmd.Flags().StringArrayVar(&diskFlags, "disk", nil, "NAME=PATH of a disk to profile instead of the configuration's (repeat; before the agent is installed)")
	cmd.Flags().StringVar(&machine, "machine", "", "machine name with --disk (default: the host name)")
	cmd.Flags().StringVar(&trk, "tracker", "auto", "tracker with --disk: scan, ebpf or auto")
	return cmd
}

// profileConfig is the configuration file's machine, disks and tracker, or those of the flags when
// --disk is given (profiling needs no process server, so no installed agent).
func profileConfig(cmd *cobra.Command, machine, trk string, disks []string) (*mobility.Config, error) {
	if len(disks) == 0 {
		path, _ := cmd.Flags().GetString("config")
		return mobility.LoadConfig(path)
	}
	if machine == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, err
		}
		machine = h
	}
	switch trk {
	case "scan", "ebpf", "auto":
	default:
		return nil, fmt.Errorf("--tracker: %q is not scan, ebpf or auto", trk)
	}
	cfg := &mobility.Config{Machine: machine, Tracker: trk}
	seen := map[string]bool{}
	for _, d := range disks {
		name, path, ok := strings.Cut(d, "=")
		if !ok || name == "" || path == "" {
			return nil, fmt.Errorf("--disk %q: want NAME=PATH", d)
		}
		if seen[name] {
			return nil, fmt.Errorf("--disk: disk %s named twice", name)
		}
		seen[name] = true
		cfg.Disks = append(cfg.Disks, mobility.Disk{Name: name, Path: path})
	}
	return cfg, nil
}

func writeProfile(path string, p *capacity.Profile) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := capacity.Encode(f, p); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// profileTracker picks the tracker as the agent would (the configuration's tracker; auto: ebpf
// where it works, else scan). Its eBPF tracker pins nothing, so a running agent's is untouched.
func (a *app) profileTracker(cfg *mobility.Config) tracker.Tracker {
	if cfg.Tracker == "scan" {
		return tracker.NewScan()
	}
	var paths []string
	for _, d := range cfg.Disks {
		paths = append(paths, d.Path)
	}
	err := ebpf.CheckPaths(paths)
	if err == nil {
		err = ebpf.Probe()
	}
	if err == nil {
		var t tracker.Tracker
		log := a.logger
		if log == nil {
			log = slog.Default()
		}
		if t, err = ebpf.NewTracker(ebpf.Options{Logger: log}); err == nil {
			return t
		}
	}
	fmt.Fprintf(a.stderr, "mobility profile: using the scan tracker (%v)\n", err)
	return tracker.NewScan()
}

func (a *app) profile(ctx context.Context, cfg *mobility.Config, duration, interval time.Duration) (*capacity.Profile, error) {
	var disks []capacity.Disk
	for _, d := range cfg.Disks {
		disks = append(disks, capacity.Disk{Name: d.Name, Path: d.Path})
	}
	pr, err := capacity.NewProfiler(ctx, capacity.ProfilerConfig{Machine: cfg.Machine, Disks: disks,
		Tracker: a.profileTracker(cfg), Clock: a.clock})
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	n := int(duration / interval)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; i < n; i++ {
		select {
		case <-ctx.Done():
			// Interrupted: what was measured so far is the profile (none: the error).
			if i == 0 {
				return nil, ctx.Err()
			}
			return pr.Profile(interval), nil
		case <-tick.C:
		}
		if _, err := pr.Sample(ctx); err != nil {
			return nil, err
		}
	}
	return pr.Profile(interval), nil
}

func printProfile(w io.Writer, p *capacity.Profile) {
	b := capacity.FormatBytes
	fmt.Fprintf(w, "machine %s, tracker %s, %d samples of %s\n", p.Machine, p.Tracker, len(p.Disks[0].Samples),
		time.Duration(p.IntervalSeconds*float64(time.Second)))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DISK\tSIZE\tUSED\tCHANGED\tPER HOUR\tPER DAY\tPEAK INTERVAL\tPEAK WRITE")
	for _, d := range p.Disks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s/s\n", d.Name, b(float64(d.SizeBytes)), b(float64(d.UsedBytes)),
			b(float64(d.ChangedBytes)), b(d.BytesPerHour), b(d.BytesPerDay), b(float64(d.PeakIntervalByte)), b(d.PeakBytesPerSec))
	}
	tw.Flush()
}
