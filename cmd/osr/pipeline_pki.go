package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/pki"
)

func (a *app) pkiCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "pki", Short: "Local certificate authority for agents and process servers"}
	var dir, caName string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create a CA in a directory (ca.crt, and ca.key readable by the owner only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := pki.InitCA(dir, caName, a.clock.Now()); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, filepath.Join(dir, pki.CACertFile))
			return nil
		},
	}
	initCmd.Flags().StringVar(&dir, "dir", "", "CA directory (required)")
	initCmd.Flags().StringVar(&caName, "ca-name", "", "subject name of the CA (default: osr local CA)")
	_ = initCmd.MarkFlagRequired("dir")

	var name, role, outDir string
	var hosts []string
	var days int
	issueCmd := &cobra.Command{
		Use:   "issue",
		Short: "Issue a certificate and key for an agent, process server, configuration server or vault",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := pki.ParseRole(role)
			if err != nil {
				return err
			}
			ca, err := pki.LoadCA(dir)
			if err != nil {
				return err
			}
			if outDir == "" {
				outDir = dir
			}
			certPEM, keyPEM, err := ca.Issue(pki.LeafRequest{Name: name, Role: r, Hosts: hosts, Now: a.clock.Now(),
				Validity: time.Duration(days) * 24 * time.Hour})
			if err != nil {
				return err
			}
			cf, kf, err := pki.WriteLeaf(outDir, name, certPEM, keyPEM)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, cf)
			fmt.Fprintln(a.stdout, kf)
			return nil
		},
	}
	issueCmd.Flags().StringVar(&dir, "dir", "", "CA directory (required)")
	issueCmd.Flags().StringVar(&name, "name", "", "holder name: the machine name for an agent (required)")
	issueCmd.Flags().StringVar(&role, "role", "", "agent, process-server, config-server or vault (required)")
	issueCmd.Flags().StringArrayVar(&hosts, "host", nil, "DNS name or IP address the holder serves on (repeatable)")
	issueCmd.Flags().StringVar(&outDir, "out-dir", "", "where to write NAME.crt and NAME.key (default: the CA directory)")
	issueCmd.Flags().IntVar(&days, "days", 0, "validity in days (default 730)")
	for _, f := range []string{"dir", "name", "role"} {
		_ = issueCmd.MarkFlagRequired(f)
	}
	cmd.AddCommand(initCmd, issueCmd)
	return cmd
}
