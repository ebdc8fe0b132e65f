package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func (a *app) jobsCommand() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "jobs", Short: "Long operations with their progress and result"}
	f.register(cmd, false)
	cmd.PersistentFlags().StringVar(&f.vault, "vault", "", "only this vault's jobs")
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List jobs, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			js, err := c.ListJobs(cmd.Context(), f.vault)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(js)
			}
			a.table("ID\tKIND\tTARGET\tSTATE\tPROGRESS\tSTARTED\tENDED\tRESULT", func(w io.Writer) {
				for _, j := range js {
					res := j.Result
					if j.Error != "" {
						res = j.Error
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%.0f%%\t%s\t%s\t%s\n", j.ID, j.Kind, j.Target, j.State, j.Progress, fmtTime(&j.Started), fmtTime(j.Ended), orDash(res))
				}
			})
			return nil
		},
	}, &cobra.Command{
		Use: "show ID", Short: "Show a job", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			j, err := c.GetJob(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(j)
			}
			fmt.Fprintf(a.stdout, "ID:        %s\nKind:      %s\nTarget:    %s\nState:     %s\nProgress:  %.1f%%\nStarted:   %s\nEnded:     %s\nBy:        %s\nResult:    %s\nError:     %s\n",
				j.ID, j.Kind, j.Target, j.State, j.Progress, fmtTime(&j.Started), fmtTime(j.Ended), j.CreatedBy, orDash(j.Result), orDash(j.Error))
			return nil
		},
	})
	return cmd
}

func (a *app) alertsCommand() *cobra.Command {
	f := &apiFlags{}
	var all bool
	cmd := &cobra.Command{Use: "alerts", Short: "Alerts: RPO, process-server health, heartbeats"}
	f.register(cmd, false)
	cmd.PersistentFlags().StringVar(&f.vault, "vault", "", "only this vault's alerts")
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")
	list := &cobra.Command{
		Use: "list", Short: "List open alerts (--all: cleared ones too)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			as, err := c.ListAlerts(cmd.Context(), f.vault, all)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(as)
			}
			a.table("SEVERITY\tKIND\tSUBJECT\tRAISED\tCLEARED\tMESSAGE", func(w io.Writer) {
				for _, al := range as {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", al.Severity, al.Kind, al.Subject, fmtTime(&al.Raised), fmtTime(al.Cleared), al.Message)
				}
			})
			return nil
		},
	}
	list.Flags().BoolVar(&all, "all", false, "include cleared alerts")
	cmd.AddCommand(list)
	return cmd
}

func (a *app) eventsCommand() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "events", Short: "Events of the vaults"}
	f.register(cmd, false)
	cmd.PersistentFlags().StringVar(&f.vault, "vault", "", "only this vault's events")
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List events, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			es, err := c.ListEvents(cmd.Context(), f.vault)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(es)
			}
			a.table("TIME\tSEVERITY\tKIND\tSUBJECT\tMESSAGE", func(w io.Writer) {
				for _, e := range es {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", fmtTime(&e.Time), e.Severity, e.Kind, e.Subject, e.Message)
				}
			})
			return nil
		},
	})
	return cmd
}

func (a *app) auditCommand() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "audit", Short: "The audit log: who changed what, when, from where"}
	f.register(cmd, false)
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List audit entries, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			es, err := c.ListAudit(cmd.Context())
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(es)
			}
			a.table("TIME\tACTOR\tACTION\tTARGET\tDETAIL\tFROM", func(w io.Writer) {
				for _, e := range es {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", fmtTime(&e.Time), e.Actor, e.Action, e.Target, orDash(e.Detail), e.Remote)
				}
			})
			return nil
		},
	})
	return cmd
}

func (a *app) webhookCommand() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "webhook", Short: "Receivers of alert changes (signed JSON POSTs)"}
	f.register(cmd, false)
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")
	add := &cobra.Command{
		Use: "add URL", Short: "Add a receiver; prints the signing secret once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			w, err := c.AddWebhook(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(w)
			}
			fmt.Fprintf(a.stdout, "webhook %s added for %s\nsigning secret (X-Osr-Signature: sha256=HMAC-SHA256 of the body), shown once:\n%s\n", w.ID, w.URL, w.Secret)
			return nil
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List receivers", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			ws, err := c.ListWebhooks(cmd.Context())
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(ws)
			}
			a.table("ID\tURL\tCREATED", func(w io.Writer) {
				for _, h := range ws {
					fmt.Fprintf(w, "%s\t%s\t%s\n", h.ID, h.URL, fmtTime(&h.Created))
				}
			})
			return nil
		},
	}
	remove := &cobra.Command{
		Use: "remove ID", Short: "Remove a receiver and its pending deliveries", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			if err := c.RemoveWebhook(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "webhook %s removed\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}
