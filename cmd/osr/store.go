package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/progress"
	"github.com/opensiterecovery/osr/internal/store"
)

func (a *app) storeCommand() *cobra.Command {
	f := &repoFlags{}
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Work with a vault store: where replicated disks and their recovery points live",
	}
	f.register(cmd)
	cmd.AddCommand(a.storeInit(f), a.storePut(f), a.storeLs(f), a.storeExport(f), a.storeCheck(f), a.storePrune(f), a.storePasswd(f))
	return cmd
}

func (a *app) storeInit(f *repoFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create a new vault store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			be, err := a.backend(ctx, f, true)
			if err != nil {
				return err
			}
			pw, err := a.password(f)
			if err != nil {
				return err
			}
			r, err := store.Init(ctx, be, pw, a.storeOptions())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "created vault store %s at %s\n", r.Config().ID[:12], be.Location())
			fmt.Fprintln(a.stdout, "keep the password safe: without it the data cannot be read")
			return nil
		},
	}
}

func (a *app) storeLs(f *repoFlags) *cobra.Command {
	var machine string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List recovery points, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			r, err := a.openRepo(ctx, f)
			if err != nil {
				return err
			}
			pts, err := r.Points(ctx, machine)
			if err != nil {
				return err
			}
			if asJSON {
				if pts == nil {
					pts = []*store.Point{}
				}
				return writeJSON(a.stdout, pts)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tMACHINE\tCONSISTENCY\tDISKS\tSIZE\tADDED")
			for _, p := range pts {
				var names []string
				var size int64
				for _, d := range p.Disks {
					names = append(names, d.Name)
					size += d.Size
				}
				consistency := string(p.Consistency)
				if p.Partial {
					consistency = "partial (initial replication)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID[:12], p.Time.Local().Format("2006-01-02 15:04:05"),
					p.Machine, consistency, strings.Join(names, ","), progress.FormatBytes(size),
					progress.FormatBytes(p.Stats.DataBytes+p.Stats.TreeBytes))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&machine, "machine", "", "only points of this machine")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) storeExport(f *repoFlags) *cobra.Command {
	var point, machine, disk, out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write one disk of a recovery point to a raw (sparse) image",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if out == "" || disk == "" {
				return errors.New("--disk and --out are required")
			}
			if point == "latest" && machine == "" {
				return errors.New("--point latest needs --machine")
			}
			r, err := a.openRepo(ctx, f)
			if err != nil {
				return err
			}
			lock, err := r.Session(ctx, store.LockRead)
			if err != nil {
				return err
			}
			defer lock.Release()
			pt, err := r.ResolvePoint(ctx, machine, point)
			if err != nil {
				return err
			}
			dr, err := r.OpenDisk(pt, disk)
			if err != nil {
				return err
			}
			file, err := os.OpenFile(out, os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				return err
			}
			bar := progress.New(a.stderr, dr.Size(), "export "+disk, progress.Options{Clock: a.clock})
			err = dr.Export(ctx, file, store.ExportOptions{Progress: bar.Add})
			bar.Finish()
			if cerr := file.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("export failed, %s is incomplete: %w", out, err)
			}
			fmt.Fprintf(a.stdout, "exported disk %s of point %s (%s) to %s\n", disk, pt.ID[:12], progress.FormatBytes(dr.Size()), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&point, "point", "latest", "point ID (or unique prefix), latest or latest-app")
	cmd.Flags().StringVar(&machine, "machine", "", "machine of the point")
	cmd.Flags().StringVar(&disk, "disk", "", "disk name")
	cmd.Flags().StringVar(&out, "out", "", "output file")
	return cmd
}

func (a *app) storePasswd(f *repoFlags) *cobra.Command {
	var newFile string
	cmd := &cobra.Command{
		Use:   "passwd",
		Short: "Change the store password (no data is rewritten)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			r, err := a.openRepo(ctx, f)
			if err != nil {
				return err
			}
			nf := &repoFlags{passwordFile: newFile}
			na := *a
			na.getenv = func(k string) string {
				if k == "OSR_PASSWORD" {
					return a.getenv("OSR_NEW_PASSWORD")
				}
				return a.getenv(k)
			}
			pw, err := na.password(nf)
			if err != nil {
				return fmt.Errorf("new password: %w (use --new-password-file or OSR_NEW_PASSWORD)", err)
			}
			if err := r.ChangePassword(ctx, pw); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "password changed")
			return nil
		},
	}
	cmd.Flags().StringVar(&newFile, "new-password-file", "", "file holding the new password (default $OSR_NEW_PASSWORD)")
	return cmd
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
