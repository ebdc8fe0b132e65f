package drill

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/recoveryplan"
	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/db"
	"github.com/opensiterecovery/osr/internal/vault/extraapi"
)

// Options are a drill's settings besides its subject and schedule.
type Options struct {
	// Point, Network and Target go to the test failover (see recoveryplan.MachineOptions).
	Point   string `json:"point,omitempty"`
	Network string `json:"network,omitempty"`
	Target  string `json:"target,omitempty"`
	// VerifyBoot boots each failed-over machine before the cleanup.
	VerifyBoot bool `json:"verify_boot,omitempty"`
	// Timezone is the IANA zone the cron expression is read in (default UTC).
	Timezone string `json:"timezone,omitempty"`
}

// CreateRequest schedules a drill: exactly one of Plan and Machine.
type CreateRequest struct {
	// Name defaults to the plan's or machine's name.
	Name    string `json:"name,omitempty"`
	Plan    string `json:"plan,omitempty"`
	Machine string `json:"machine,omitempty"`
	Cron    string `json:"cron"`
	Options
}

// Drill is a scheduled drill.
type Drill struct {
	ID        string    `json:"id"`
	Vault     string    `json:"vault"`
	Name      string    `json:"name"`
	Plan      string    `json:"plan,omitempty"`
	Machine   string    `json:"machine,omitempty"`
	Cron      string    `json:"cron"`
	Options   Options   `json:"options"`
	NextRun   time.Time `json:"next_run"`
	CreatedBy string    `json:"created_by"`
	Created   time.Time `json:"created"`
}

// Config configures the drill service.
type Config struct {
	Vault    *vault.Service
	Plans    *recoveryplan.Service
	Failover recoveryplan.Failoverer
	// BootCheck boots machines of drills with verify_boot; nil: such drills are refused.
	BootCheck recoveryplan.BootChecker
	// Poll is how often Run looks for drills that are due (default 30 s).
	Poll time.Duration
}

// Deps are the service's injected dependencies: the clock decides when drills are due.
type Deps struct {
	Clock  clock.Clock
	Logger *slog.Logger
}

// Service schedules and runs drills. It is safe for concurrent use.
type Service struct {
	cfg   Config
	v     *vault.Service
	db    *db.DB
	clock clock.Clock
	log   *slog.Logger

	bg *extraapi.Background // firings

	mu      sync.Mutex
	running map[string]bool // drill IDs with a firing going on in this process
}

// New builds the drill service.
func New(cfg Config, deps Deps) (*Service, error) {
	if cfg.Vault == nil || cfg.Plans == nil || cfg.Failover == nil {
		return nil, errors.New("drills: the vault, plan and failover services are needed")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 30 * time.Second
	}
	s := &Service{cfg: cfg, v: cfg.Vault, db: cfg.Vault.DB(), clock: deps.Clock, log: deps.Logger, running: map[string]bool{}}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.bg = extraapi.NewBackground()
	return s, nil
}

// Close stops firings going on (their reports say so) and waits for them.
func (s *Service) Close() error {
	s.bg.Close()
	return nil
}

// Wait blocks until no firing of this service is going on.
func (s *Service) Wait() { s.bg.Wait() }

func ns(t time.Time) int64          { return vault.UnixNano(t) }
func fromNS(n int64) time.Time      { return vault.FromUnixNano(n) }
func randomID(prefix string) string { return vault.NewID(prefix) }

func badRequest(format string, args ...any) error {
	return vault.Errorf(http.StatusBadRequest, format, args...)
}

// schedule parses a drill's cron expression in its time zone.
func schedule(expr, tz string) (*Schedule, *time.Location, error) {
	sch, err := ParseCron(expr)
	if err != nil {
		return nil, nil, err
	}
	loc := time.UTC
	if tz != "" {
		if loc, err = time.LoadLocation(tz); err != nil {
			return nil, nil, fmt.Errorf("timezone %q is not known", tz)
		}
	}
	return sch, loc, nil
}

// Create schedules a drill. The plan or machine must exist; the first firing is the schedule's
// next instant after now.
func (s *Service) Create(ctx context.Context, vaultName string, req CreateRequest) (*Drill, error) {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	switch {
	case req.Plan == "" && req.Machine == "":
		return nil, badRequest("a drill needs a recovery plan or a machine")
	case req.Plan != "" && req.Machine != "":
		return nil, badRequest("a drill is of a recovery plan or of a machine, not both")
	}
	subject := req.Plan + req.Machine
	if req.Name == "" {
		req.Name = subject
	}
	if err := recoveryplan.CheckName("drill", req.Name); err != nil {
		return nil, badRequest("%s", err.Error())
	}
	sch, loc, err := schedule(req.Cron, req.Timezone)
	if err != nil {
		return nil, badRequest("%s", err.Error())
	}
	if req.VerifyBoot && s.cfg.BootCheck == nil {
		return nil, badRequest("verify_boot: this vault service has no boot check configured")
	}
	if req.Plan != "" {
		if _, err := s.cfg.Plans.Get(ctx, v.Name, req.Plan); err != nil {
			return nil, err
		}
	} else if _, err := s.v.GetItem(ctx, v.Name, req.Machine); err != nil {
		return nil, err
	}
	opts, _ := json.Marshal(req.Options)
	now := s.clock.Now()
	next := sch.Next(now.In(loc))
	id := randomID("drill-")
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO drills (id, vault_id, name, plan, machine, cron, options_json, next_run, created_by, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, v.ID, req.Name, req.Plan, req.Machine, req.Cron, string(opts), ns(next), vault.ActorOf(ctx).Name(), ns(now))
		if db.IsUniqueViolation(err) {
			return vault.Errorf(http.StatusConflict, "drill %s already exists in vault %s", req.Name, v.Name)
		}
		if err != nil {
			return err
		}
		return s.v.AddAudit(ctx, tx, "drill.schedule", v.Name+"/"+req.Name, fmt.Sprintf("%s, cron %q", subject, req.Cron))
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, v.Name, req.Name)
}

const drillCols = `id, name, plan, machine, cron, options_json, next_run, created_by, created`

func scanDrill(sc db.Scanner, vaultName string) (*Drill, error) {
	d := &Drill{Vault: vaultName}
	var opts string
	var next, created int64
	if err := sc.Scan(&d.ID, &d.Name, &d.Plan, &d.Machine, &d.Cron, &opts, &next, &d.CreatedBy, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(opts), &d.Options); err != nil {
		return nil, fmt.Errorf("drill %s: stored options: %w", d.Name, err)
	}
	d.NextRun, d.Created = fromNS(next), fromNS(created)
	return d, nil
}

// Get returns a drill by name.
func (s *Service) Get(ctx context.Context, vaultName, name string) (*Drill, error) {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	d, err := scanDrill(s.db.QueryRow(ctx, `SELECT `+drillCols+` FROM drills WHERE vault_id = ? AND name = ?`, v.ID, name), v.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vault.Errorf(http.StatusNotFound, "drill %s does not exist in vault %s", name, v.Name)
	}
	return d, err
}

// List returns a vault's drills by name.
func (s *Service) List(ctx context.Context, vaultName string) ([]*Drill, error) {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+drillCols+` FROM drills WHERE vault_id = ? ORDER BY name`, v.ID)
	return db.Collect(rows, err, func(sc db.Scanner) (*Drill, error) { return scanDrill(sc, v.Name) })
}

// Delete removes a drill and its reports.
func (s *Service) Delete(ctx context.Context, vaultName, name string) error {
	d, err := s.Get(ctx, vaultName, name)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM drills WHERE id = ?`, d.ID); err != nil {
			return err
		}
		return s.v.AddAudit(ctx, tx, "drill.delete", d.Vault+"/"+d.Name, "")
	})
}
