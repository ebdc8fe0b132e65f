package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/vault"
)

func (a *app) replicationCommand() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "replication", Short: "Protected items: enable, disable, status"}
	f.register(cmd, true)
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")

	var req vault.EnableRequest
	enable := &cobra.Command{
		Use: "enable MACHINE --policy P [--process-server PS]", Short: "Enable replication of a machine", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			req.Machine = args[0]
			it, err := c.EnableReplication(cmd.Context(), v, req)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(it)
			}
			fmt.Fprintf(a.stdout, "replication of %s enabled with policy %s (state %s)\n", it.Machine, it.Policy, it.State)
			return nil
		},
	}
	enable.Flags().StringVar(&req.Policy, "policy", "", "replication policy")
	enable.Flags().StringVar(&req.ProcessServer, "process-server", "", "process server (default: the configuration server chooses)")
	enable.MarkFlagRequired("policy")

	disable := &cobra.Command{
		Use: "disable MACHINE", Short: "Disable replication of a machine (its recovery points stay until retention removes them)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			if err := c.DisableReplication(cmd.Context(), v, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "replication of %s disabled\n", args[0])
			return nil
		},
	}

	status := &cobra.Command{
		Use: "status [MACHINE]", Short: "Replication status of protected items", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			var items []vault.ProtectedItem
			if len(args) == 1 {
				it, err := c.GetItem(cmd.Context(), v, args[0])
				if err != nil {
					return err
				}
				if f.json {
					return a.printJSON(it)
				}
				items = []vault.ProtectedItem{*it}
			} else if items, err = c.ListItems(cmd.Context(), v); err != nil {
				return err
			} else if f.json {
				return a.printJSON(items)
			}
			a.table("MACHINE\tSTATE\tPOLICY\tPROCESS SERVER\tLAST POINT\tRPO\tERROR", func(w io.Writer) {
				for _, it := range items {
					state := it.State
					if it.State == vault.StateInitialReplication {
						state = fmt.Sprintf("%s %.1f%%", state, it.InitialPercent)
					}
					rpo := "-"
					if it.RPOSeconds != nil {
						rpo = fmtSeconds(*it.RPOSeconds)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Machine, state, it.Policy, orDash(it.ProcessServer), fmtTime(it.LastPointTime), rpo, orDash(it.Error))
				}
			})
			return nil
		},
	}
	cmd.AddCommand(enable, disable, status)
	return cmd
}

func (a *app) recoveryPointsCommand() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "recovery-points", Short: "Recovery points of protected machines"}
	f.register(cmd, true)
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")
	cmd.AddCommand(&cobra.Command{
		Use: "list MACHINE", Short: "List a machine's recovery points, newest first", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			pts, err := c.RecoveryPoints(cmd.Context(), v, args[0])
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(pts)
			}
			a.table("ID\tTIME\tCONSISTENCY\tDISKS", func(w io.Writer) {
				for _, p := range pts {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\n", p.ID, fmtTime(&p.Time), p.Consistency, len(p.Disks))
				}
			})
			return nil
		},
	})
	return cmd
}
