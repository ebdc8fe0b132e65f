package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/configserver"
)

func (a *app) configServerCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config-server",
		Short: "Configuration server: install (register with the vault), serve, passphrase",
	}
	cmd.AddCommand(a.configServerInstallCommand(), a.configServerServeCommand(), a.configServerPassphraseCommand())
	return cmd
}

func (a *app) configServerInstallCommand() *cobra.Command {
	var o configserver.InstallOptions
	var keyFile string
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Check prerequisites, register with the vault, generate the passphrase and set up the default process server",
		Long: `Install runs the prerequisite checks (cache space, ports, network selection, vault reachable
directly or through --proxy, clock within 5 minutes of the vault's, not registered yet) and prints
them as a table. If any check fails, nothing is written and the exit code is 2. Otherwise it
registers with the vault using the registration key (once: the key is then used up), writes the
data directory and prints the passphrase that admits process servers and agents: once. It stays in
DATA-DIR/passphrase, readable by root only (osr config-server passphrase shows it again).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(keyFile)
			if err != nil {
				return fmt.Errorf("read registration key: %w", err)
			}
			o.KeyText, o.Clock, o.Logger = string(b), a.clock, a.logger
			res, err := configserver.Install(cmd.Context(), o)
			if res != nil && len(res.Report) > 0 {
				fmt.Fprintln(a.stdout, "Prerequisites:")
				_ = res.Report.WriteTable(a.stdout)
				fmt.Fprintln(a.stdout)
			}
			if errors.Is(err, configserver.ErrPrerequisites) {
				return &exitError{code: 2, err: err}
			}
			if err != nil {
				return err
			}
			r := res.Registration
			fmt.Fprintf(a.stdout, "Registered with vault %s (%s) as configuration server %s (%s).\n", r.VaultName, r.VaultID, r.Name, r.ConfigServerID)
			fmt.Fprintf(a.stdout, "Default process server %s at %s: osr process-server serve --config %s\n", r.ProcessServer.Name, r.ProcessServer.Address, r.ProcessServer.ConfigPath)
			fmt.Fprintf(a.stdout, "\nPassphrase (shown once; kept in %s/%s, readable by root only):\n\n    %s\n\n", o.DataDir, configserver.PassphraseFile, res.Passphrase)
			fmt.Fprintln(a.stdout, "Start it with: osr config-server serve --data-dir "+o.DataDir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyFile, "registration-key", "", "vault registration key file (valid 5 days, used once)")
	f.StringVar(&o.CacheDir, "cache-dir", "", "cache directory of the default process server (at least 5 GiB free, 600 GiB recommended)")
	f.Var((*sizeFlag)(&o.CacheBytes), "cache-size", "cache budget on a shared disk, e.g. 50GiB (default: the cache owns its file system)")
	f.IntVar(&o.Port, "port", configserver.DefaultPSPort, "process server port (443 is prohibited)")
	f.IntVar(&o.APIPort, "api-port", configserver.DefaultAPIPort, "configuration server HTTPS port, for process servers and agents")
	f.StringVar(&o.DataDir, "data-dir", configserver.DefaultDataDir, "data directory (created 0700)")
	f.StringVar(&o.Proxy, "proxy", "", "HTTP(S) proxy for all traffic to the vault (default: direct)")
	f.StringVar(&o.ListenAddress, "listen-address", "", "address the process server listens on (network selection)")
	f.StringVar(&o.ListenInterface, "listen-interface", "", "network interface the process server listens on (network selection)")
	f.StringVar(&o.Name, "name", "", "configuration server name in the vault (default: the short host name)")
	f.StringVar(&o.HealthListen, "health-listen", configserver.DefaultHealthListen, "where the default process server serves /health and /metrics")
	_ = cmd.MarkFlagRequired("registration-key")
	_ = cmd.MarkFlagRequired("cache-dir")
	cmd.MarkFlagsMutuallyExclusive("listen-address", "listen-interface")
	return cmd
}

func (a *app) configServerServeCommand() *cobra.Command {
	var dataDir string
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the configuration server: its HTTPS API, the admin socket, heartbeats to the vault",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var mounts map[string]http.Handler
			var services []func(context.Context)
			var onDesired func(context.Context, []string, func(string) bool)
			if _, err := configserver.LoadRegistration(dataDir); err == nil { // otherwise New says what is wrong
				if mounts, services, err = a.configServerExtras(cmd.Context(), dataDir, a.logger); err != nil {
					return err
				}
				onDesired = a.autoPush(dataDir, a.logger)
			}
			srv, err := configserver.New(configserver.Config{DataDir: dataDir, Clock: a.clock, Logger: a.logger, VaultInterval: interval,
				Mounts: mounts, Services: services, OnDesired: onDesired})
			if err != nil {
				return err
			}
			return srv.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", configserver.DefaultDataDir, "data directory written by install")
	cmd.Flags().DurationVar(&interval, "vault-interval", configserver.HeartbeatInterval, "period of heartbeats to the vault")
	_ = cmd.Flags().MarkHidden("vault-interval") // for tests; the vault expects 30 s
	return cmd
}

func (a *app) configServerPassphraseCommand() *cobra.Command {
	var dataDir string
	var regenerate bool
	cmd := &cobra.Command{
		Use:   "passphrase",
		Short: "Show the passphrase, or --regenerate it (the old one stops admitting new process servers and agents)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if regenerate {
				p, err := configserver.RegeneratePassphrase(dataDir)
				if err != nil {
					return err
				}
				fmt.Fprintln(a.stderr, "New passphrase; the old one no longer admits process servers or agents (those enrolled keep their certificates):")
				fmt.Fprintln(a.stdout, p)
				return nil
			}
			p, err := configserver.ReadPassphrase(dataDir)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, p)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", configserver.DefaultDataDir, "data directory written by install")
	cmd.Flags().BoolVar(&regenerate, "regenerate", false, "make a new passphrase")
	return cmd
}
