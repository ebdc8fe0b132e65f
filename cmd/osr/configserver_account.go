package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/accounts"
)

func (a *app) accountStore(dataDir string) (*accounts.Store, error) {
	if _, err := configserver.LoadRegistration(dataDir); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no configuration server is installed in %s: run osr config-server install", dataDir)
	}
	return accounts.New(accounts.Options{Dir: dataDir, Clock: a.clock})
}

func (a *app) accountCommand() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "account",
		Short: "Accounts the configuration server uses to reach machines and vCenter (secrets stay encrypted on it)",
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", configserver.DefaultDataDir, "configuration server data directory")

	var acc accounts.Account
	var typ, passwordFile, keyFile string
	add := &cobra.Command{
		Use:   "add",
		Short: "Add an account; its password or private key is read from a file and stored encrypted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			acc.Type = accounts.Type(typ)
			path := passwordFile
			acc.SecretKind = accounts.Password
			if keyFile != "" {
				path, acc.SecretKind = keyFile, accounts.Key
			}
			secret, err := readSecret(path)
			if err != nil {
				return err
			}
			s, err := a.accountStore(dataDir)
			if err != nil {
				return err
			}
			if err := s.Add(cmd.Context(), acc, secret); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "account %s added (%s, user %s)\n", acc.Name, acc.Type, acc.User)
			return nil
		},
	}
	add.Flags().StringVar(&acc.Name, "name", "", "account name")
	add.Flags().StringVar(&typ, "type", "", "ssh, windows or vcenter")
	add.Flags().StringVar(&acc.User, "user", "", "user name")
	add.Flags().StringVar(&passwordFile, "password-file", "", "file holding the password (one line)")
	add.Flags().StringVar(&keyFile, "key-file", "", "file holding an unprotected SSH private key (ssh accounts)")
	for _, f := range []string{"name", "type", "user"} {
		_ = add.MarkFlagRequired(f)
	}
	add.MarkFlagsOneRequired("password-file", "key-file")
	add.MarkFlagsMutuallyExclusive("password-file", "key-file")

	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List accounts (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.accountStore(dataDir)
			if err != nil {
				return err
			}
			l, err := s.List(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if l == nil {
					l = []accounts.Account{}
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(l)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTYPE\tUSER\tSECRET\tADDED")
			for _, x := range l {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", x.Name, x.Type, x.User, x.SecretKind, x.Created.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "JSON output")

	var rmName string
	remove := &cobra.Command{
		Use:   "remove [NAME]",
		Short: "Remove an account and its secret",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				rmName = args[0]
			}
			if rmName == "" {
				return errors.New("give the account name (--name NAME)")
			}
			s, err := a.accountStore(dataDir)
			if err != nil {
				return err
			}
			if err := s.Remove(cmd.Context(), rmName); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "account %s removed\n", rmName)
			return nil
		},
	}
	remove.Flags().StringVar(&rmName, "name", "", "account name")
	cmd.AddCommand(add, list, remove)
	return cmd
}

// readSecret reads a password or key file; a password file's trailing newline is not part of it.
func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	if len(b) > 64<<10 {
		return nil, fmt.Errorf("read secret: %s is larger than 64 KiB", filepath.Base(path))
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		trimmed := b[:n-1]
		if len(trimmed) > 0 && trimmed[len(trimmed)-1] == '\r' {
			trimmed = trimmed[:len(trimmed)-1]
		}
		if !containsNewline(trimmed) { // a one-line password; keys keep their layout
			b = trimmed
		}
	}
	return b, nil
}

func containsNewline(b []byte) bool {
	for _, c := range b {
		if c == '\n' {
			return true
		}
	}
	return false
}
