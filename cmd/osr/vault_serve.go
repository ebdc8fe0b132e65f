package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/apiclient"
	"github.com/opensiterecovery/osr/internal/vault"
)

func (a *app) vaultServeCommand() *cobra.Command {
	var dataDir, listen, dbURL, masterKey string
	var urls, hosts []string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the vault service (REST API on HTTPS)",
		Long: `Runs the vault service. On first start it creates the vault root CA, the registration-key
signing key and the first owner, "admin", whose API token it writes to DATA-DIR/admin.token (0600),
with DATA-DIR/vault.url and DATA-DIR/vault-ca.crt for local clients.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dataDir == "" {
				dataDir = apiclient.DefaultDataDir(a.getenv)
			}
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return err
			}
			if dbURL == "" {
				dbURL = filepath.Join(dataDir, "vault.db")
			}
			if masterKey == "" {
				masterKey = filepath.Join(dataDir, "master.key")
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", listen, err)
			}
			defer ln.Close()
			if len(urls) == 0 {
				host, port, _ := net.SplitHostPort(ln.Addr().String())
				if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
					host, _ = os.Hostname()
				}
				urls = []string{"https://" + net.JoinHostPort(host, port)}
			}
			if len(hosts) == 0 {
				hosts = []string{"localhost", "127.0.0.1", "::1"}
				if h, err := os.Hostname(); err == nil {
					hosts = append(hosts, h)
				}
			}
			svc, err := a.newVaultService(vault.Config{DB: dbURL, MasterKeyFile: masterKey, URLs: urls, Hosts: hosts, StoreOptions: a.storeOptions()}, a.logger)
			if err != nil {
				return err
			}
			defer svc.Close()
			token, err := svc.Bootstrap(cmd.Context())
			if err != nil {
				return err
			}
			if token != "" {
				if err := writeFileExcl(filepath.Join(dataDir, apiclient.TokenFileName), token+"\n", 0o600); err != nil {
					return fmt.Errorf("write the admin token: %w", err)
				}
				fmt.Fprintf(a.stderr, "created user admin (owner); its API token is in %s\n", filepath.Join(dataDir, apiclient.TokenFileName))
			}
			if err := os.WriteFile(filepath.Join(dataDir, apiclient.CAFileName), svc.RootCAPEM(), 0o644); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dataDir, apiclient.ServerFileName), []byte(strings.Join(urls, "\n")+"\n"), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "vault service listening on %s (%s), root CA sha256 %s\n", ln.Addr(), urls[0], svc.RootCAFingerprint())
			return svc.Serve(cmd.Context(), ln)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "data directory (default $OSR_DATA_DIR, then ~/.osr)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8443", "address to listen on")
	cmd.Flags().StringVar(&dbURL, "db", "", "metadata database: a SQLite file (default DATA-DIR/vault.db) or a postgres:// URL")
	cmd.Flags().StringVar(&masterKey, "master-key-file", "", "key sealing the vault's secrets at rest (default DATA-DIR/master.key; created 0600)")
	cmd.Flags().StringSliceVar(&urls, "url", nil, "https URL(s) configuration servers use to reach this service (default from --listen)")
	cmd.Flags().StringSliceVar(&hosts, "host", nil, "names and addresses the HTTPS certificate is issued for (default localhost, loopback, hostname)")
	return cmd
}

func writeFileExcl(path, content string, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists already: remove it first", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
