package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/progress"
	"github.com/opensiterecovery/osr/internal/source"
	"github.com/opensiterecovery/osr/internal/store"
)

func (a *app) storePut(f *repoFlags) *cobra.Command {
	var machine string
	var diskArgs []string
	var app, asJSON, full bool
	cmd := &cobra.Command{
		Use:   "put",
		Short: "Take one recovery point of a machine from disk images or block devices",
		Long: "put reads every given disk and commits one recovery point holding all of them. It is\n" +
			"incremental against the machine's newest point: only blocks that differ are stored.\n" +
			"The new point's ID is printed alone on the last line.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if machine == "" {
				return errors.New("--machine is required")
			}
			if len(diskArgs) == 0 {
				return errors.New("give at least one --disk NAME=PATH")
			}
			var disks []*source.Disk
			defer func() {
				for _, d := range disks {
					d.Close()
				}
			}()
			var specs []store.DiskSpec
			var names []string
			var total int64
			for _, arg := range diskArgs {
				name, path, ok := strings.Cut(arg, "=")
				if !ok || name == "" || path == "" {
					return fmt.Errorf("--disk %q: want NAME=PATH", arg)
				}
				d, err := source.Open(path)
				if err != nil {
					return fmt.Errorf("disk %s: %w", name, err)
				}
				disks = append(disks, d)
				specs = append(specs, store.DiskSpec{Name: name, Size: d.Size()})
				names = append(names, name)
				total += d.Size()
			}
			r, err := a.openRepo(ctx, f)
			if err != nil {
				return err
			}
			var parent *store.Point
			if !full {
				pts, err := r.Points(ctx, machine)
				if err != nil {
					return err
				}
				if len(pts) > 0 {
					parent = pts[len(pts)-1]
				}
			}
			start := a.clock.Now()
			w, err := r.NewWriter(ctx, machine, parent, specs)
			if err != nil {
				return err
			}
			bar := progress.New(a.stderr, total, "put "+machine, progress.Options{Clock: a.clock})
			for i, d := range disks {
				err := source.CopyTo(ctx, d, w.Disk(names[i]), source.CopyOptions{Progress: bar.Add, SkipHoles: parent == nil})
				if err != nil {
					bar.Finish()
					w.Abort()
					return fmt.Errorf("disk %s: %w", names[i], err)
				}
			}
			consistency := store.CrashConsistent
			if app {
				consistency = store.AppConsistent
			}
			pt, err := w.Commit(ctx, store.CommitMeta{Time: start, Consistency: consistency})
			bar.Finish()
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, pt)
			}
			kind := "full"
			if parent != nil {
				kind = "incremental from " + parent.ID[:12]
			}
			fmt.Fprintf(a.stdout, "point of %s (%s): %d blocks changed, %s added in %d packs\n", machine, kind,
				pt.Stats.BlocksWritten, progress.FormatBytes(pt.Stats.DataBytes+pt.Stats.TreeBytes), pt.Stats.Packs)
			fmt.Fprintln(a.stdout, pt.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&machine, "machine", "", "machine the disks belong to")
	cmd.Flags().StringArrayVar(&diskArgs, "disk", nil, "NAME=PATH of a disk image or block device (repeat for each disk)")
	cmd.Flags().BoolVar(&app, "app-consistent", false, "mark the point application-consistent")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the new point as JSON")
	cmd.Flags().BoolVar(&full, "full", false, "store a full point, ignoring the machine's previous points")
	return cmd
}
