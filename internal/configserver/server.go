package configserver

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver/enroll"
	"github.com/opensiterecovery/osr/internal/configserver/vaultlink"
	"github.com/opensiterecovery/osr/internal/passphrase"
	"github.com/opensiterecovery/osr/internal/vcenter"
)

// Config wires a Server.
type Config struct {
	DataDir string
	Clock   clock.Clock
	Logger  *slog.Logger
	// API and Admin are listeners to serve on instead of the registration's API address and the
	// data directory's admin socket (tests, socket activation).
	API, Admin net.Listener
	// VaultInterval is the period of heartbeats to the vault; default HeartbeatInterval.
	VaultInterval time.Duration
	// Mounts are served on the API port beside the enrollment endpoints, by pattern (net/http
	// ServeMux syntax), with no client certificate required: each checks what it needs (the agent
	// install repository).
	Mounts map[string]http.Handler
	// Services run next to the server until Run's context ends (the vCenter inventory sync).
	Services []func(ctx context.Context)
	// OnDesired is called with the machines the vault wants replicated each time a new desired
	// state is stored (the automatic push of the mobility service to machines without an agent).
	// It must not block.
	OnDesired func(ctx context.Context, machines []string, hasAgent func(machine string) bool)
}

// Server is a running configuration server.
type Server struct {
	cfg      Config
	reg      *Registration
	id       *Identity
	registry *Registry
	enroll   *enroll.Server
	vault    []*vaultlink.Client

	mu          sync.Mutex
	lastVault   time.Time // last successful heartbeat
	lastVaultEr error
	sentInv     string

	vc vcenterLink // the vault's vCenter requests (vcenters.go)
}

// New loads the data directory of an installed configuration server.
func New(cfg Config) (*Server, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.VaultInterval <= 0 {
		cfg.VaultInterval = HeartbeatInterval
	}
	reg, err := LoadRegistration(cfg.DataDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no configuration server is installed in %s: run osr config-server install", cfg.DataDir)
	}
	if err != nil {
		return nil, err
	}
	id, err := LoadIdentity(cfg.DataDir, cfg.Clock)
	if err != nil {
		return nil, err
	}
	registry, err := OpenRegistry(filepath.Join(cfg.DataDir, StateFile), cfg.Clock)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, reg: reg, id: id, registry: registry}
	if err := s.loadScaleOut(); err != nil {
		return nil, err
	}
	h := sha256.Sum256(id.TLS.Certificate[0])
	s.enroll, err = enroll.NewServer(enroll.ServerConfig{
		Authority: id.Authority,
		Passphrase: func() (passphrase.Passphrase, error) {
			return passphrase.ReadFile(filepath.Join(cfg.DataDir, PassphraseFile), true)
		},
		CertHash: h[:],
		Admit:    s.admit,
		Clock:    cfg.Clock,
		Logger:   cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	proxy, err := vaultlink.ParseProxy(reg.Proxy)
	if err != nil {
		return nil, err
	}
	hc := vaultlink.HTTPClient(vaultlink.RootTLS(id.Root, id.TLS), proxy, 30*time.Second)
	for _, u := range reg.VaultURLs {
		s.vault = append(s.vault, vaultlink.NewClient(u, hc))
	}
	return s, nil
}

// Registry returns the server's registry.
func (s *Server) Registry() *Registry { return s.registry }

// TLSConfig returns the API's server TLS configuration: TLS 1.3, the configuration server's chain,
// client certificates verified against the vault root when presented (enrollment has none).
func (s *Server) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(s.id.Root)
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{s.id.TLS},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
		Time:         s.cfg.Clock.Now, // certificates are issued and checked by the same clock
	}
}

// Run serves the API and the admin socket and talks to the vault until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	api, admin := s.cfg.API, s.cfg.Admin
	var err error
	if api == nil {
		if api, err = net.Listen("tcp", s.reg.APIAddress); err != nil {
			return fmt.Errorf("listen on %s: %w", s.reg.APIAddress, err)
		}
	}
	if admin == nil {
		sock := filepath.Join(s.cfg.DataDir, AdminSocket)
		_ = os.Remove(sock)
		if admin, err = net.Listen("unix", sock); err != nil {
			api.Close()
			return fmt.Errorf("listen on %s: %w", sock, err)
		}
		_ = os.Chmod(sock, 0o600)
	}
	apiSrv := &http.Server{Handler: s.APIHandler(), TLSConfig: s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: MaxWait + 30*time.Second, IdleTimeout: 2 * time.Minute, // long polls last up to MaxWait
		ErrorLog: slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug)}
	adminSrv := &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- apiSrv.ServeTLS(api, "", "") }()
	go func() { errc <- adminSrv.Serve(admin) }()
	vctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.vaultLoop(vctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); s.scaleOutLoop(vctx) }() // balance_auto.go
	wg.Add(1)
	go func() { defer wg.Done(); s.requestLoop(vctx) }() // the vault's requests (finalsync_loop.go)
	for _, run := range s.cfg.Services {
		wg.Add(1)
		go func() { defer wg.Done(); run(vctx) }()
	}
	s.cfg.Logger.Info("configuration server running", "name", s.reg.Name, "api", api.Addr().String())
	select {
	case <-ctx.Done():
		err = nil
	case err = <-errc:
	}
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = apiSrv.Shutdown(sctx)
	_ = adminSrv.Shutdown(sctx)
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// vaultLoop sends a heartbeat at once, then every VaultInterval, and early (at most one a second)
// when an agent's replication report changed.
func (s *Server) vaultLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.VaultInterval)
	defer t.Stop()
	for {
		s.VaultOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.registry.Reports():
			select {
			case <-ctx.Done():
				return
			case <-time.After(min(time.Second, s.cfg.VaultInterval)): // reports of several agents travel together
			}
		}
	}
}

// VaultOnce sends one heartbeat (and the inventory and desired state fetch when needed), trying the
// vault's URLs in order. It returns the error of the last URL tried.
func (s *Server) VaultOnce(ctx context.Context) error {
	var err error
	for _, v := range s.vault {
		if err = s.vaultOnce(ctx, v); err == nil {
			break
		}
	}
	s.mu.Lock()
	s.lastVaultEr = err
	if err == nil {
		s.lastVault = s.cfg.Clock.Now()
	}
	s.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		s.cfg.Logger.Warn("vault heartbeat failed", "err", err)
	}
	return err
}

func (s *Server) vaultOnce(ctx context.Context, v *vaultlink.Client) error {
	ans, err := v.SendHeartbeat(ctx, s.registry.VaultHeartbeat())
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	inv := s.inventory()
	key := inventoryKey(inv)
	s.mu.Lock()
	same := key == s.sentInv
	s.mu.Unlock()
	if !same {
		if err := v.PutInventoryDoc(ctx, inv); err != nil {
			return fmt.Errorf("inventory: %w", err)
		}
		s.mu.Lock()
		s.sentInv = key
		s.mu.Unlock()
	}
	if ans.DesiredStateVersion != s.registry.DesiredVersion() {
		d, err := v.GetDesiredState(ctx)
		if err != nil {
			return fmt.Errorf("desired state: %w", err)
		}
		if err := s.registry.SetDesired(d); err != nil {
			return err
		}
		s.vcenterRequests(ctx, d.VCenters)
		if s.cfg.OnDesired != nil {
			machines := make([]string, 0, len(d.Items))
			for _, it := range d.Items {
				machines = append(machines, it.Machine)
			}
			s.cfg.OnDesired(ctx, machines, s.registry.HasAgent)
		}
		// The default process server on this host gets the store settings here; scale-out ones
		// fetch them with their configuration.
		changed, err := ApplyStorage(filepath.Join(s.cfg.DataDir, ProcessServerDir), d.Storage)
		if err != nil {
			s.cfg.Logger.Error("write the default process server's store settings", "err", err)
		} else if changed {
			s.cfg.Logger.Info("default process server store settings written", "repo", d.Storage.URL)
		}
	}
	return nil
}

// Infrastructure returns this configuration server and its associated servers with statuses.
func (s *Server) Infrastructure() Infrastructure {
	s.mu.Lock()
	last, lastErr := s.lastVault, s.lastVaultEr
	s.mu.Unlock()
	v := CSView{Name: s.reg.Name, ID: s.reg.ConfigServerID, Vault: s.reg.VaultName, LastVault: timePtr(last)}
	switch {
	case last.IsZero():
		v.Status, v.Reason = Disconnected, "no contact with the vault yet"
	case s.cfg.Clock.Now().Sub(last) > VaultLostAfter:
		v.Status, v.Reason = Disconnected, fmt.Sprintf("no contact with the vault for %s", s.cfg.Clock.Now().Sub(last).Truncate(time.Second))
	case lastErr != nil:
		v.Status, v.Reason = Warning, "last vault heartbeat failed: "+lastErr.Error()
	default:
		v.Status = Connected
	}
	if lastErr != nil && v.Status == Disconnected && !last.IsZero() {
		v.Reason += ": " + lastErr.Error()
	}
	v.ProcessServers, v.Agents = s.registry.View()
	v.VCenters = []vcenter.Summary{}
	if inv, err := vcenter.Open(s.cfg.DataDir, s.cfg.Clock); err == nil {
		if sums, err := inv.Summaries(context.Background()); err == nil {
			v.VCenters = sums
		} else {
			s.cfg.Logger.Warn("vCenter inventory cannot be read", "err", err)
		}
	}
	return Infrastructure{ConfigurationServers: []CSView{v}}
}
