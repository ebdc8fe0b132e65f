package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

type dbTx = db.Tx

// Config configures the vault service.
type Config struct {
	// DB is the metadata database: a SQLite file path, or a postgres:// URL.
	DB string
	// MasterKeyFile holds the 32-byte key that seals the vault's secrets at rest (created 0600 on
	// first start when missing).
	MasterKeyFile string
	// URLs are the https URLs under which configuration servers reach this service; they go into
	// registration keys and registration answers.
	URLs []string
	// Hosts are the names and addresses the HTTPS certificate is issued for.
	Hosts []string
	// Portal, when set, is mounted under / (the API stays under /api/v1).
	Portal http.Handler
	// ExtraRoutes are endpoints of other packages (failover, ...) served beside the built-in ones.
	// An unknown Permission name makes New fail.
	ExtraRoutes []ExtraRoute
	// StoreOptions are used when a vault's replica store is created or opened (KDF cost, etc.).
	StoreOptions store.Options
}

// Deps are the service's injected dependencies; zero values take the real ones.
type Deps struct {
	Clock  clock.Clock
	Logger *slog.Logger
	// Getenv reads storage credentials from the environment (as internal/storage/backends does).
	Getenv func(string) string
	// HTTPClient delivers webhooks.
	HTTPClient *http.Client
}

// Service is the vault service. It is safe for concurrent use.
type Service struct {
	cfg    Config
	db     *db.DB
	clock  clock.Clock
	log    *slog.Logger
	getenv func(string) string
	box    *secretBox
	ca     *authority
	hc     *http.Client

	seq     atomic.Uint64 // see seqID
	lead    *leadership   // which replica runs the background work (leader.go)
	limiter *failureLimiter

	reposMu sync.Mutex
	repos   map[string]*store.Repo // by vault ID
}

// New opens the database (applying migrations), the master key and the root CA.
func New(cfg Config, deps Deps) (*Service, error) {
	if cfg.DB == "" {
		return nil, errors.New("vault: no database configured")
	}
	if cfg.MasterKeyFile == "" {
		if db.IsPostgres(cfg.DB) {
			return nil, errors.New("vault: a master key file is needed with a postgresql database")
		}
		cfg.MasterKeyFile = filepath.Join(filepath.Dir(cfg.DB), "master.key")
	}
	if len(cfg.URLs) == 0 {
		return nil, errors.New("vault: no service URL configured")
	}
	for _, x := range cfg.ExtraRoutes {
		switch x.Permission {
		case "public", "read", "self", "failover", "write", "owner", "config-server":
		default:
			return nil, fmt.Errorf("vault: route %s %s has unknown permission %q", x.Method, x.Path, x.Permission)
		}
	}
	s := &Service{cfg: cfg, clock: deps.Clock, log: deps.Logger, getenv: deps.Getenv, hc: deps.HTTPClient, repos: map[string]*store.Repo{}}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.getenv == nil {
		s.getenv = os.Getenv
	}
	if s.hc == nil {
		s.hc = &http.Client{Timeout: 10 * time.Second}
	}
	s.seq.Store(uint64(time.Now().UnixNano()))
	s.limiter = newFailureLimiter(s.clock)
	box, err := loadMasterKey(cfg.MasterKeyFile)
	if err != nil {
		return nil, err
	}
	s.box = box
	ctx := context.Background()
	if s.db, err = db.Open(ctx, cfg.DB); err != nil {
		return nil, err
	}
	s.lead = newLeadership(s.db)
	if s.ca, err = s.loadAuthority(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// Close gives up the leadership and releases the database.
func (s *Service) Close() error {
	s.lead.release()
	return s.db.Close()
}

// DB returns the metadata database (for the portal and tests).
func (s *Service) DB() *db.DB { return s.db }

// RootCAPEM is the vault root CA certificate.
func (s *Service) RootCAPEM() []byte { return s.ca.rootPEM }

// RootCAFingerprint is the lowercase hex SHA-256 of the root CA certificate (DER).
func (s *Service) RootCAFingerprint() string { return s.ca.fp }

// Actor is who makes a request: a user (by token or password) or a configuration server (mTLS).
type Actor struct {
	User         string
	Role         Role
	ConfigServer string // configuration server ID when authenticated by certificate
	VaultID      string // the configuration server's vault
	Remote       string // client address
}

// Name is the actor as written in the audit log.
func (a Actor) Name() string {
	switch {
	case a.User != "":
		return a.User
	case a.ConfigServer != "":
		return "config-server:" + a.ConfigServer
	}
	return "anonymous"
}

type actorKey struct{}

// WithActor returns ctx carrying a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

func actorOf(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

func wrapf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
