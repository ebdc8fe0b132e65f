package recoveryplan

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/db"
	"github.com/opensiterecovery/osr/internal/vault/extraapi"
)

// Config configures the recovery-plan service.
type Config struct {
	// Vault is the vault service whose database, items and jobs plans use.
	Vault *vault.Service
	// Failover runs the machines' operations.
	Failover Failoverer
	// BootCheck boots machines for runs with verify_boot; nil: such runs are refused.
	BootCheck BootChecker
	// Parallel is how many machines of a group run at once (default 10).
	Parallel int
	// ScriptTimeout bounds one before or after script (default 30 minutes).
	ScriptTimeout time.Duration
	// PollInterval is how often a paused run looks for a resume recorded by another vault
	// replica (default 2 s; a resume through this service wakes it at once).
	PollInterval time.Duration
	// Environ is the scripts' base environment (default os.Environ()).
	Environ []string
	// Host and PID identify this process in runs (default os.Hostname, os.Getpid).
	Host string
	PID  int
}

// Deps are the service's injected dependencies.
type Deps struct {
	Clock  clock.Clock
	Logger *slog.Logger
}

// Service keeps and runs recovery plans. It is safe for concurrent use.
type Service struct {
	cfg   Config
	v     *vault.Service
	db    *db.DB
	clock clock.Clock
	log   *slog.Logger

	bg *extraapi.Background // runs live in it; Close cancels it

	mu     sync.Mutex
	wakeup map[string]chan struct{} // paused runs of this process, by run ID
}

// New builds the service. Runs that a stopped process of this host left running or paused are
// failed ("the vault service stopped during the run").
func New(cfg Config, deps Deps) (*Service, error) {
	if cfg.Vault == nil {
		return nil, errors.New("recovery plans: no vault service")
	}
	if cfg.Failover == nil {
		return nil, errors.New("recovery plans: no failover service")
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 10
	}
	if cfg.ScriptTimeout <= 0 {
		cfg.ScriptTimeout = 30 * time.Minute
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.Environ == nil {
		cfg.Environ = os.Environ()
	}
	if cfg.Host == "" {
		cfg.Host, _ = os.Hostname()
	}
	if cfg.PID == 0 {
		cfg.PID = os.Getpid()
	}
	s := &Service{cfg: cfg, v: cfg.Vault, db: cfg.Vault.DB(), clock: deps.Clock, log: deps.Logger, wakeup: map[string]chan struct{}{}}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.bg = extraapi.NewBackground()
	if err := s.failStale(context.Background()); err != nil {
		return nil, fmt.Errorf("recovery plans: fail runs of a stopped service: %w", err)
	}
	return s, nil
}

// Close stops the runs of this service (their jobs fail) and waits for them.
func (s *Service) Close() error {
	s.bg.Close()
	return nil
}

// Wait blocks until no run of this service is going on (for tests and shutdown).
func (s *Service) Wait() { s.bg.Wait() }

func ns(t time.Time) int64     { return vault.UnixNano(t) }
func fromNS(n int64) time.Time { return vault.FromUnixNano(n) }

func badRequest(format string, args ...any) error {
	return vault.Errorf(http.StatusBadRequest, format, args...)
}

// Create validates and stores a plan: every machine must be a protected item of the vault and
// every script an executable file on this host. Nothing is stored when it fails.
func (s *Service) Create(ctx context.Context, vaultName string, req CreateRequest) (*Plan, error) {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, badRequest("%s", err.Error())
	}
	total := 0
	for i, g := range req.Groups {
		for _, m := range g.Machines {
			if _, err := s.v.GetItem(ctx, v.Name, m); err != nil {
				if vault.StatusOf(err) == http.StatusNotFound {
					return nil, badRequest("group %d: machine %s is not protected in vault %s", i+1, m, v.Name)
				}
				return nil, err
			}
		}
		total += len(g.Machines)
		for _, sc := range []struct{ step, path string }{{"before", g.Before}, {"after", g.After}} {
			if sc.path == "" {
				continue
			}
			if err := checkScript(sc.path); err != nil {
				return nil, badRequest("group %d: %s script %s", i+1, sc.step, err.Error())
			}
		}
	}
	groups, err := json.Marshal(req.Groups)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	actor := vault.ActorOf(ctx).Name()
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO recovery_plans (vault_id, name, description, groups_json, machine_count, created_by, created) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			v.ID, req.Name, req.Description, string(groups), total, actor, ns(now))
		if db.IsUniqueViolation(err) {
			return vault.Errorf(http.StatusConflict, "recovery plan %s already exists in vault %s", req.Name, v.Name)
		}
		if err != nil {
			return err
		}
		return s.v.AddAudit(ctx, tx, "plan.create", v.Name+"/"+req.Name, fmt.Sprintf("%d groups, %d machines", len(req.Groups), total))
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, v.Name, req.Name)
}

// checkScript says why path is not an executable regular file.
func checkScript(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s does not exist on the vault host", path)
		}
		return fmt.Errorf("%s: %v", path, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

const planCols = `name, description, groups_json, machine_count, created_by, created`

func scanPlan(sc db.Scanner, vaultName string) (*Plan, error) {
	p := &Plan{Vault: vaultName}
	var groups string
	var created int64
	if err := sc.Scan(&p.Name, &p.Description, &groups, &p.Machines, &p.CreatedBy, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(groups), &p.Groups); err != nil {
		return nil, fmt.Errorf("plan %s: stored groups: %w", p.Name, err)
	}
	p.Created = fromNS(created)
	return p, nil
}

// Get returns a plan (404 when there is none).
func (s *Service) Get(ctx context.Context, vaultName, name string) (*Plan, error) {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	p, err := scanPlan(s.db.QueryRow(ctx, `SELECT `+planCols+` FROM recovery_plans WHERE vault_id = ? AND name = ?`, v.ID, name), v.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vault.Errorf(http.StatusNotFound, "recovery plan %s does not exist in vault %s", name, v.Name)
	}
	return p, err
}

// List returns a vault's plans by name.
func (s *Service) List(ctx context.Context, vaultName string) ([]*Plan, error) {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+planCols+` FROM recovery_plans WHERE vault_id = ? ORDER BY name`, v.ID)
	return db.Collect(rows, err, func(sc db.Scanner) (*Plan, error) { return scanPlan(sc, v.Name) })
}

// Delete removes a plan and its finished runs. A plan with a run going on is not deleted (409).
func (s *Service) Delete(ctx context.Context, vaultName, name string) error {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM recovery_plans WHERE vault_id = ? AND name = ?`, v.ID, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return vault.Errorf(http.StatusNotFound, "recovery plan %s does not exist in vault %s", name, v.Name)
		}
		var active int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM plan_runs WHERE vault_id = ? AND plan = ? AND state IN ('running', 'paused')`, v.ID, name).Scan(&active); err != nil {
			return err
		}
		if active > 0 {
			return vault.Errorf(http.StatusConflict, "recovery plan %s has a run going on", name)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM plan_runs WHERE vault_id = ? AND plan = ?`, v.ID, name); err != nil {
			return err
		}
		return s.v.AddAudit(ctx, tx, "plan.delete", v.Name+"/"+name, "")
	})
}
