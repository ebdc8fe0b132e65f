package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/opensiterecovery/osr/internal/apiclient"
	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/vault"
)

// upOptions are the flags of osr up.
type upOptions struct {
	dataDir      string
	listen       string // vault service and portal
	vaultName    string
	apiPort      int      // configuration server (first start only)
	psPort       int      // default process server (first start only)
	healthListen string   // default process server's /health (first start only)
	cacheSize    sizeFlag // default process server's cache budget (first start only)
}

// upCacheBudget is the default process server's cache budget when --cache-size is not given: the
// cache shares the data directory's disk, so it gets a budget (not the whole file system) and the
// health thresholds judge that budget: half of what is free at first start, at most 64 GiB.
func upCacheBudget(avail uint64) int64 {
	return int64(min(avail/2, 64<<30))
}

// Layout of osr up's data directory. The vault's files sit at its top, where the CLI looks by
// default (vault.url, admin.token, vault-ca.crt).
const (
	upConfigServerDir = "config-server"
	upCacheDir        = "cache"
	upStoreDir        = "store"
	upPasswordFile    = "admin.password"
)

func (a *app) upCommand() *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run everything on this machine: vault service, portal, configuration server and process server",
		Long: `Up is the all-in-one installation: the vault service with its portal, a configuration server
registered with it and the default process server, in one process, with SQLite and vault storage
in the data directory.

On first start it creates the owner "admin" (random password in DATA-DIR/admin.password, API token
in DATA-DIR/admin.token, both 0600, where the osr CLI finds them), a vault with storage
file://DATA-DIR/store, a registration key that it uses at once to install its own configuration
server (the prerequisite checks are printed), the passphrase, and the default process server on
port 9443 (or the next free port, said so). Later starts reuse all of it. Ctrl-C stops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.dataDir == "" {
				o.dataDir = apiclient.DefaultDataDir(a.getenv)
			}
			abs, err := filepath.Abs(o.dataDir)
			if err != nil {
				return err
			}
			o.dataDir = abs
			return a.up(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data-dir", "", "data directory (default $OSR_DATA_DIR, then ~/.osr)")
	f.StringVar(&o.listen, "listen", "127.0.0.1:8443", "address of the vault service and portal (HTTPS)")
	f.StringVar(&o.vaultName, "vault", "default", "name of the vault created on first start")
	f.IntVar(&o.apiPort, "api-port", configserver.DefaultAPIPort, "configuration server port on first start (the next free one if taken)")
	f.IntVar(&o.psPort, "ps-port", configserver.DefaultPSPort, "process server port on first start (the next free one if taken)")
	f.StringVar(&o.healthListen, "health-listen", configserver.DefaultHealthListen, "process server /health address on first start (the next free port if taken)")
	f.Var(&o.cacheSize, "cache-size", "process server cache budget on first start (default: half the free space, at most 64GiB)")
	return cmd
}

func (a *app) up(ctx context.Context, o upOptions) error {
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	defer ln.Close()
	url := "https://" + ln.Addr().String()
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	if host, port, _ := net.SplitHostPort(ln.Addr().String()); net.ParseIP(host).IsUnspecified() {
		h, _ := os.Hostname()
		url = "https://" + net.JoinHostPort(h, port)
	}

	svc, err := a.newVaultService(vault.Config{DB: filepath.Join(o.dataDir, "vault.db"), MasterKeyFile: filepath.Join(o.dataDir, "master.key"),
		URLs: []string{url}, Hosts: hosts, StoreOptions: a.storeOptions()}, log)
	if err != nil {
		return err
	}
	defer svc.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	fail := func(err error) error {
		cancel()
		_ = g.Wait()
		return err
	}
	g.Go(func() error { return svc.Serve(gctx, ln) })
	summary, err := a.upSetup(gctx, svc.Service, url, o)
	if err != nil {
		if errors.Is(err, configserver.ErrPrerequisites) {
			err = &exitError{code: 2, err: err}
		}
		return fail(err)
	}
	csDir := filepath.Join(o.dataDir, upConfigServerDir)
	// The configuration server's port is open before the process server starts, so that its first
	// heartbeat is answered.
	apiLn, err := net.Listen("tcp", summary.registration.APIAddress)
	if err != nil {
		return fail(fmt.Errorf("configuration server: listen on %s: %w", summary.registration.APIAddress, err))
	}
	csLog := log.With("component", "config-server")
	mounts, services, err := a.configServerExtras(ctx, csDir, csLog)
	if err != nil {
		apiLn.Close()
		return fail(err)
	}
	cs, err := configserver.New(configserver.Config{DataDir: csDir, Clock: a.clock, Logger: csLog, API: apiLn, Mounts: mounts, Services: services,
		OnDesired: a.autoPush(csDir, csLog)})
	if err != nil {
		apiLn.Close()
		return fail(err)
	}
	g.Go(func() error { return cs.Run(gctx) })
	psConfig := filepath.Join(csDir, configserver.ProcessServerDir, configserver.PSConfigFile)
	g.Go(func() error {
		_, err := a.serveProcessServerManaged(gctx, psConfig, "info")
		return err
	})
	a.printUpSummary(summary)
	err = g.Wait()
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled) || errors.Is(err, http.ErrServerClosed)) {
		fmt.Fprintln(a.stderr, "osr up: stopped")
		return nil
	}
	return err
}

// nextFreePort returns port if it can be listened on, else the next free one among the following
// 100 (skipping those in avoid).
func nextFreePort(host string, port int, avoid ...int) (int, error) {
	for p := port; p < port+100 && p < 65536; p++ {
		skip := false
		for _, x := range avoid {
			skip = skip || x == p
		}
		if skip {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			l.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port in %d..%d", port, port+99)
}
