package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/progress"
	"github.com/opensiterecovery/osr/internal/retention"
	"github.com/opensiterecovery/osr/internal/store"
)

func (a *app) storeCheck(f *repoFlags) *cobra.Command {
	var readData bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Verify the store: structure, and with --read-data every byte",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			r, err := a.openRepo(ctx, f)
			if err != nil {
				return err
			}
			lock, err := r.Session(ctx, store.LockRead)
			if err != nil {
				return err
			}
			defer lock.Release()
			opts := store.CheckOptions{ReadData: readData}
			var bar *progress.Bar
			if readData {
				bar = progress.New(a.stderr, 0, "check", progress.Options{Clock: a.clock})
				opts.Progress = bar.Add
			}
			rep, err := r.Check(ctx, opts)
			if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return err
			}
			for _, n := range rep.Notes {
				fmt.Fprintln(a.stdout, "note:", n)
			}
			for _, p := range rep.Problems {
				fmt.Fprintln(a.stdout, "error:", p)
			}
			what := "structure"
			if readData {
				what = "structure and data"
			}
			fmt.Fprintf(a.stdout, "checked %s: %d points, %d packs (%s), %d blobs\n", what, rep.Points, rep.Packs, progress.FormatBytes(rep.PackBytes), rep.Blobs)
			if len(rep.Problems) > 0 {
				return &exitError{code: 1, err: fmt.Errorf("the store is damaged: %d problems found", len(rep.Problems))}
			}
			fmt.Fprintln(a.stdout, "no problems found")
			return nil
		},
	}
	cmd.Flags().BoolVar(&readData, "read-data", false, "read and verify every byte of every pack")
	return cmd
}

func (a *app) storePrune(f *repoFlags) *cobra.Command {
	var window, keepAll, interval time.Duration
	var dry bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Thin recovery points by age and remove data no point needs",
		Long: "prune keeps every point of the last --keep-all (2h), then one point per --interval (1h) up to\n" +
			"--retention; it always keeps each machine's newest point and newest app-consistent point.\n" +
			"Then it deletes data no remaining point references and repacks packs with little live data.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if window == 0 {
				return errors.New("--retention is required, e.g. --retention 24h")
			}
			pol := retention.Policy{KeepAll: keepAll, Window: window, Interval: interval}
			if err := pol.Validate(); err != nil {
				return err
			}
			r, err := a.openRepo(ctx, f)
			if err != nil {
				return err
			}
			rep, err := r.Prune(ctx, store.PruneOptions{Policy: pol, DryRun: dry})
			if err != nil {
				return err
			}
			verb := "forgot"
			if dry {
				verb = "would forget"
			}
			for _, p := range rep.Forgotten {
				fmt.Fprintf(a.stdout, "%s point %s of %s (%s)\n", verb, p.ID[:12], p.Machine, p.Time.Local().Format("2006-01-02 15:04:05"))
			}
			fmt.Fprintf(a.stdout, "points: %d kept, %d forgotten\n", len(rep.Kept), len(rep.Forgotten))
			fmt.Fprintf(a.stdout, "packs: %d deleted (%s), %d repacked, %d deferred, %d rescued\n",
				rep.PacksDeleted, progress.FormatBytes(rep.BytesDeleted), rep.PacksRepacked, rep.PacksDeferred, rep.PacksRescued)
			if rep.PacksDeferred > 0 {
				fmt.Fprintln(a.stdout, "deferred packs are in use by running writers or readers; a later prune deletes them")
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&window, "retention", 0, "retention window: how far back points are kept")
	cmd.Flags().DurationVar(&keepAll, "keep-all", retention.DefaultKeepAll, "keep every point this recent")
	cmd.Flags().DurationVar(&interval, "interval", retention.DefaultInterval, "beyond --keep-all, keep one point per interval")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "report what would be done, change nothing")
	return cmd
}
