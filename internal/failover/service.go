package failover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/vault"
)

// SourceControl reaches a protected machine's source side through its configuration server. The
// pipeline implements it on the vault service (FinalSync, LatestReceived).
type SourceControl interface {
	// FinalSync asks the machine's agent to stop the source's writes (shutdown: and shut the
	// machine down once the point is committed), take and commit a last recovery point, and
	// returns that point's ID once it is committed in the vault's store. Every write the source
	// acknowledged before the call is in that point.
	FinalSync(ctx context.Context, vault, machine string, shutdown bool) (pointID string, err error)
	// LatestReceived waits until the process server has committed everything it received for
	// the machine and returns the newest point's ID.
	LatestReceived(ctx context.Context, vault, machine string) (pointID string, err error)
}

// AgentRemover uninstalls a machine's mobility agent (migration complete --remove-agent).
type AgentRemover interface {
	// RemoveAgent asks the machine's configuration server to uninstall its agent. It returns once
	// the request is recorded; the removal itself may finish later.
	RemoveAgent(ctx context.Context, vault, machine string) error
}

// TargetConfig is a failover target as its provider factory gets it.
type TargetConfig struct {
	Name     string
	Provider string
	Settings map[string]string // the provider's settings (no secrets)
	Secret   []byte            // the provider's secret (an account key), nil when none
}

// Factory builds a provider for a target. It validates the settings: an error is the user's
// (a missing or unknown setting), shown as it is.
type Factory func(TargetConfig) (target.Provider, error)

// DiskOpener turns the disks of a recovery point into what a provider reads.
type DiskOpener func(ctx context.Context, repo *store.Repo, pt *store.Point) ([]target.Disk, error)

// Config configures the failover service.
type Config struct {
	// Vault is the vault service whose database, stores and jobs the failover service uses.
	Vault *vault.Service
	// Providers is the registry of target providers by name ("local", "azure").
	Providers map[string]Factory
	// Source reaches the source side for "latest" points and planned failovers; nil: those are
	// refused with an error saying so.
	Source SourceControl
	// Agents removes agents for migration complete --remove-agent; nil: refused.
	Agents AgentRemover
	// OpenDisks defaults to reading the point's disks from the store.
	OpenDisks DiskOpener
	// BootCheck boots the machines of requests with verify_boot once their disks are written;
	// nil: such requests are refused.
	BootCheck BootChecker
	// QEMU is the binary BootCheck runs (default DefaultQEMU); a verify_boot request is refused
	// when it is not installed.
	QEMU string
	// Lease is how long a running operation's lock lives without a heartbeat (default 1 minute);
	// after that another vault service may take it over.
	Lease time.Duration
	// Host and PID identify this process in lock rows (default os.Hostname, os.Getpid): a lock
	// of a process of this host that is gone is taken over at once.
	Host string
	PID  int
}

// Deps are the service's injected dependencies.
type Deps struct {
	Clock  clock.Clock
	Logger *slog.Logger
	// LookPath finds the boot check's qemu binary (default exec.LookPath).
	LookPath func(string) (string, error)
}

// Service runs failover operations. It is safe for concurrent use.
type Service struct {
	cfg   Config
	v     *vault.Service
	clock clock.Clock
	log   *slog.Logger
	owner string // this instance, in lock rows

	lookPath func(string) (string, error)

	ctx    context.Context // background jobs run in it; Close cancels it
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds the service and fails, on this vault's database, the operations left running by a
// vault service that is gone (their locks are released so that they can be retried).
func New(cfg Config, deps Deps) (*Service, error) {
	if cfg.Vault == nil {
		return nil, errors.New("failover: no vault service")
	}
	if len(cfg.Providers) == 0 {
		return nil, errors.New("failover: no target providers")
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.Host == "" {
		cfg.Host, _ = os.Hostname()
	}
	if cfg.PID == 0 {
		cfg.PID = os.Getpid()
	}
	if cfg.OpenDisks == nil {
		cfg.OpenDisks = openStoreDisks
	}
	if cfg.QEMU == "" {
		cfg.QEMU = DefaultQEMU
	}
	s := &Service{cfg: cfg, v: cfg.Vault, clock: deps.Clock, log: deps.Logger, owner: randomID("fo-"), lookPath: deps.LookPath}
	if s.lookPath == nil {
		s.lookPath = exec.LookPath
	}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.recoverStale(context.Background()); err != nil {
		s.cancel()
		return nil, fmt.Errorf("failover: recover operations of a stopped service: %w", err)
	}
	return s, nil
}

// Close stops running operations (their jobs fail with "vault service stopped") and waits
// for them.
func (s *Service) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

// Wait blocks until no operation started by this service runs (for tests and shutdown).
func (s *Service) Wait() { s.wg.Wait() }

// ProviderNames lists the registered providers, sorted.
func (s *Service) ProviderNames() []string {
	out := make([]string, 0, len(s.cfg.Providers))
	for n := range s.cfg.Providers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
