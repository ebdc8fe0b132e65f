package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/vault"
)

func (a *app) policyCommand() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "policy", Short: "Replication policies: create, list, show, delete, associate"}
	f.register(cmd, true)
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")

	var rpo, ret, app, crash time.Duration
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a policy (and its NAME-failback twin)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			for _, d := range []struct {
				flag string
				v    time.Duration
			}{{"rpo-threshold", rpo}, {"retention", ret}, {"app-consistent-frequency", app}, {"crash-consistent-frequency", crash}} {
				if d.v%time.Second != 0 || d.v < 0 {
					return fmt.Errorf("--%s %s must be a whole number of seconds", d.flag, d.v)
				}
			}
			p, err := c.CreatePolicy(cmd.Context(), v, vault.CreatePolicyRequest{Name: args[0], RPOThresholdSeconds: int64(rpo / time.Second),
				RetentionSeconds: int64(ret / time.Second), AppConsistentSeconds: int64(app / time.Second), CrashConsistentSeconds: int64(crash / time.Second)})
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(p)
			}
			fmt.Fprintf(a.stdout, "policy %s created with its failback twin %s-failback\n", p.Name, p.Name)
			return nil
		},
	}
	create.Flags().DurationVar(&rpo, "rpo-threshold", 15*time.Minute, "alert when the newest recovery point is older than this (1m..24h)")
	create.Flags().DurationVar(&ret, "retention", 24*time.Hour, "how long recovery points are kept (1h..720h)")
	create.Flags().DurationVar(&app, "app-consistent-frequency", 60*time.Minute, "how often app-consistent points are taken (5m..12h, at most the retention)")
	create.Flags().DurationVar(&crash, "crash-consistent-frequency", 5*time.Minute, "how often crash-consistent points are taken (30s..1h, at most the RPO threshold)")

	list := &cobra.Command{
		Use: "list", Short: "List policies", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			ps, err := c.ListPolicies(cmd.Context(), v)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(ps)
			}
			a.table("NAME\tRPO THRESHOLD\tRETENTION\tAPP-CONSISTENT\tCRASH-CONSISTENT\tCONFIG SERVERS", func(w io.Writer) {
				for _, p := range ps {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, fmtSeconds(p.RPOThresholdSeconds), fmtSeconds(p.RetentionSeconds), fmtSeconds(p.AppConsistentSeconds), fmtSeconds(p.CrashConsistentSeconds), orDash(strings.Join(p.ConfigServers, ",")))
				}
			})
			return nil
		},
	}

	show := &cobra.Command{
		Use: "show NAME", Short: "Show a policy", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			p, err := c.GetPolicy(cmd.Context(), v, args[0])
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(p)
			}
			fmt.Fprintf(a.stdout, "Name:                        %s\nRPO threshold:               %s\nRecovery point retention:    %s\nApp-consistent frequency:    %s\nCrash-consistent frequency:  %s\nFailback twin of:            %s\nConfiguration servers:       %s\n",
				p.Name, fmtSeconds(p.RPOThresholdSeconds), fmtSeconds(p.RetentionSeconds), fmtSeconds(p.AppConsistentSeconds), fmtSeconds(p.CrashConsistentSeconds), orDash(p.FailbackOf), orDash(strings.Join(p.ConfigServers, ", ")))
			return nil
		},
	}

	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a policy and its twin (refused while used)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			if err := c.DeletePolicy(cmd.Context(), v, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "policy %s deleted\n", args[0])
			return nil
		},
	}

	var cs string
	assoc := &cobra.Command{
		Use: "associate NAME --config-server CS", Short: "Associate a policy with a configuration server", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			p, err := c.AssociatePolicy(cmd.Context(), v, args[0], cs)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(p)
			}
			fmt.Fprintf(a.stdout, "policy %s associated with configuration server %s\n", p.Name, cs)
			return nil
		},
	}
	assoc.Flags().StringVar(&cs, "config-server", "", "configuration server name")
	assoc.MarkFlagRequired("config-server")
	cmd.AddCommand(create, list, show, del, assoc)
	return cmd
}
