package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"runtime/debug"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/processserver"
	"github.com/opensiterecovery/osr/internal/store"
)

func (a *app) processServerCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "process-server", Short: "Replication gateway: receives agents' streams and uploads them to vault storage"}
	var configFile, logLevel string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Accept agents on the data path (default :9443) and serve health on health_listen",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(processserver.MemoryLimit)
			}
			// A process server installed under a configuration server runs as it says
			// (pipeline_managed.go).
			if managed, err := a.serveProcessServerManaged(cmd.Context(), configFile, logLevel); managed {
				return err
			}
			return a.serveProcessServer(cmd.Context(), configFile, logLevel)
		},
	}
	serve.Flags().StringVar(&configFile, "config", "", "configuration file (YAML; required)")
	serve.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	_ = serve.MarkFlagRequired("config")
	cmd.AddCommand(serve, a.processServerInstallCommand())
	cmd.AddCommand(a.processServerScaleOutCommands()...) // switch, balance, scale-out (process_server_switch.go)
	return cmd
}

func (a *app) serveProcessServer(ctx context.Context, configFile, logLevel string) error {
	cfg, err := processserver.LoadConfig(configFile)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	id, err := pki.LoadIdentity(cfg.TLS.Cert, cfg.TLS.Key, cfg.TLS.CA)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	rf := &repoFlags{repo: cfg.Store.Repo, passwordFile: cfg.Store.PasswordFile, uploadLimit: cfg.Store.UploadLimit}
	be, err := a.backend(ctx, rf, false)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", store.ErrNotInitialized, err)
	}
	if err != nil {
		return err
	}
	pw, err := a.password(rf)
	if err != nil {
		return err
	}
	repo, err := store.Open(ctx, be, pw, store.Options{Logger: log, Clock: a.clock})
	if err != nil {
		return err
	}
	srv, err := processserver.New(*cfg, processserver.Deps{Repo: repo, Identity: id, Logger: log, Clock: a.clock})
	if err != nil {
		return err
	}
	ln, err := srv.Listen()
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	if cfg.HealthListen != "" {
		hl, err := net.Listen("tcp", cfg.HealthListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("health_listen: %w", err)
		}
		g.Go(func() error { return srv.ServeHealth(ctx, hl) })
	}
	fmt.Fprintf(a.stdout, "listening on %s\n", ln.Addr())
	g.Go(func() error { return srv.Serve(ctx, ln) })
	return g.Wait()
}
