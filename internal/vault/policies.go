package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/vault/db"
)

// Policy is a replication policy: how often points are taken, how long they are kept, and when
// the RPO alert fires.
type Policy struct {
	ID                     string    `json:"id"`
	VaultID                string    `json:"vault_id"`
	Name                   string    `json:"name"`
	RPOThresholdSeconds    int64     `json:"rpo_threshold_seconds"`
	RetentionSeconds       int64     `json:"retention_seconds"`
	AppConsistentSeconds   int64     `json:"app_consistent_frequency_seconds"`
	CrashConsistentSeconds int64     `json:"crash_consistent_frequency_seconds"`
	FailbackOf             string    `json:"failback_of"` // the policy this one is the failback twin of
	ConfigServers          []string  `json:"config_servers"`
	Created                time.Time `json:"created"`
}

// CreatePolicyRequest is the body of POST /vaults/{vault}/policies. Zero durations take the
// defaults: RPO threshold 15 min, retention 24 h, app-consistent every 60 min, crash-consistent
// every 5 min.
type CreatePolicyRequest struct {
	Name                   string `json:"name"`
	RPOThresholdSeconds    int64  `json:"rpo_threshold_seconds"`
	RetentionSeconds       int64  `json:"retention_seconds"`
	AppConsistentSeconds   int64  `json:"app_consistent_frequency_seconds"`
	CrashConsistentSeconds int64  `json:"crash_consistent_frequency_seconds"`
}

// Policy defaults and bounds (seconds). Documented in docs/api/openapi.yaml.
const (
	DefaultRPOThreshold    = 15 * 60
	DefaultRetention       = 24 * 3600
	DefaultAppConsistent   = 60 * 60
	DefaultCrashConsistent = 5 * 60
)

type bound struct {
	field    string
	min, max int64
}

var (
	rpoBound   = bound{"rpo_threshold_seconds", 60, 24 * 3600}
	retBound   = bound{"retention_seconds", 3600, 30 * 24 * 3600}
	appBound   = bound{"app_consistent_frequency_seconds", 5 * 60, 12 * 3600}
	crashBound = bound{"crash_consistent_frequency_seconds", 30, 3600}
)

func (b bound) check(v int64) error {
	if v < b.min || v > b.max {
		return badRequest("%s must be between %d (%s) and %d (%s), got %d", b.field, b.min, time.Duration(b.min)*time.Second, b.max, time.Duration(b.max)*time.Second, v)
	}
	return nil
}

func (r *CreatePolicyRequest) normalise() error {
	if err := checkName("policy", r.Name); err != nil {
		return err
	}
	if strings.HasSuffix(r.Name, "-failback") {
		return badRequest("policy name %q ends in -failback, which is kept for the failback twins", r.Name)
	}
	if len(r.Name) > 63-len("-failback") {
		return badRequest("policy name %q is longer than 54 characters (its failback twin needs the rest)", r.Name)
	}
	def := func(p *int64, d int64) {
		if *p == 0 {
			*p = d
		}
	}
	def(&r.RPOThresholdSeconds, DefaultRPOThreshold)
	def(&r.RetentionSeconds, DefaultRetention)
	def(&r.AppConsistentSeconds, DefaultAppConsistent)
	def(&r.CrashConsistentSeconds, DefaultCrashConsistent)
	for _, c := range []struct {
		b bound
		v int64
	}{{rpoBound, r.RPOThresholdSeconds}, {retBound, r.RetentionSeconds}, {appBound, r.AppConsistentSeconds}, {crashBound, r.CrashConsistentSeconds}} {
		if err := c.b.check(c.v); err != nil {
			return err
		}
	}
	if r.AppConsistentSeconds > r.RetentionSeconds {
		return badRequest("app_consistent_frequency_seconds (%d) must not exceed retention_seconds (%d): no app-consistent point would be kept", r.AppConsistentSeconds, r.RetentionSeconds)
	}
	if r.CrashConsistentSeconds > r.RPOThresholdSeconds {
		return badRequest("crash_consistent_frequency_seconds (%d) must not exceed rpo_threshold_seconds (%d): the RPO alert would fire between points", r.CrashConsistentSeconds, r.RPOThresholdSeconds)
	}
	return nil
}

// CreatePolicy creates a policy and its NAME-failback twin (same settings).
func (s *Service) CreatePolicy(ctx context.Context, vault string, req CreatePolicyRequest) (*Policy, error) {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return nil, err
	}
	if err := req.normalise(); err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	p := &Policy{ID: newID("pol-"), VaultID: v.ID, Name: req.Name, RPOThresholdSeconds: req.RPOThresholdSeconds, RetentionSeconds: req.RetentionSeconds,
		AppConsistentSeconds: req.AppConsistentSeconds, CrashConsistentSeconds: req.CrashConsistentSeconds, ConfigServers: []string{}, Created: now}
	err = s.db.InTx(ctx, func(tx *dbTx) error {
		for _, row := range []struct{ id, name, of string }{{p.ID, p.Name, ""}, {newID("pol-"), p.Name + "-failback", p.ID}} {
			_, err := tx.Exec(ctx, `INSERT INTO policies (id, vault_id, name, rpo_threshold_s, retention_s, app_consistent_s, crash_consistent_s, failback_of, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				row.id, v.ID, row.name, p.RPOThresholdSeconds, p.RetentionSeconds, p.AppConsistentSeconds, p.CrashConsistentSeconds, row.of, ns(now))
			if db.IsUniqueViolation(err) {
				return conflict("policy %s already exists", row.name)
			}
			if err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, "policy.create", v.Name+"/"+p.Name, fmt.Sprintf("rpo %ds retention %ds app %ds crash %ds", p.RPOThresholdSeconds, p.RetentionSeconds, p.AppConsistentSeconds, p.CrashConsistentSeconds))
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

const policyCols = `id, vault_id, name, rpo_threshold_s, retention_s, app_consistent_s, crash_consistent_s, failback_of, created`

func scanPolicy(sc interface{ Scan(...any) error }) (*Policy, error) {
	var p Policy
	var c int64
	err := sc.Scan(&p.ID, &p.VaultID, &p.Name, &p.RPOThresholdSeconds, &p.RetentionSeconds, &p.AppConsistentSeconds, &p.CrashConsistentSeconds, &p.FailbackOf, &c)
	p.Created = fromNS(c)
	p.ConfigServers = []string{}
	return &p, err
}

func (s *Service) fillAssociations(ctx context.Context, ps []*Policy) error {
	rows, err := s.db.Query(ctx, `SELECT a.policy_id, c.name FROM policy_associations a JOIN config_servers c ON c.id = a.config_server_id JOIN policies p ON p.id = a.policy_id WHERE p.vault_id = ? ORDER BY c.name`, ps[0].VaultID)
	if err != nil {
		return err
	}
	defer rows.Close()
	byID := map[string]*Policy{}
	for _, p := range ps {
		byID[p.ID] = p
	}
	for rows.Next() {
		var pid, cs string
		if err := rows.Scan(&pid, &cs); err != nil {
			return err
		}
		if p := byID[pid]; p != nil {
			p.ConfigServers = append(p.ConfigServers, cs)
		}
	}
	return rows.Err()
}

// ListPolicies returns a vault's policies by name.
func (s *Service) ListPolicies(ctx context.Context, vault string) ([]*Policy, error) {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+policyCols+` FROM policies WHERE vault_id = ? ORDER BY name`, v.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Policy{}
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) > 0 {
		return out, s.fillAssociations(ctx, out)
	}
	return out, nil
}

func (s *Service) policy(ctx context.Context, vaultID, name string) (*Policy, error) {
	p, err := scanPolicy(s.db.QueryRow(ctx, `SELECT `+policyCols+` FROM policies WHERE vault_id = ? AND name = ?`, vaultID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("policy %s does not exist", name)
	}
	if err != nil {
		return nil, err
	}
	return p, s.fillAssociations(ctx, []*Policy{p})
}

// GetPolicy returns one policy.
func (s *Service) GetPolicy(ctx context.Context, vault, name string) (*Policy, error) {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return nil, err
	}
	return s.policy(ctx, v.ID, name)
}

// DeletePolicy deletes a policy with its twin; refused while protected items use either.
func (s *Service) DeletePolicy(ctx context.Context, vault, name string) error {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return err
	}
	p, err := s.policy(ctx, v.ID, name)
	if err != nil {
		return err
	}
	if p.FailbackOf != "" {
		return conflict("policy %s is a failback twin: delete %s instead", p.Name, strings.TrimSuffix(p.Name, "-failback"))
	}
	return s.db.InTx(ctx, func(tx *dbTx) error {
		if err := bumpDesired(ctx, tx, v.ID); err != nil { // locks the vault row against enables
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM protected_items WHERE policy_id IN (SELECT id FROM policies WHERE id = ? OR failback_of = ?)`, p.ID, p.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict("policy %s is used by %d protected items", p.Name, n)
		}
		for _, q := range []string{
			`DELETE FROM policy_associations WHERE policy_id IN (SELECT id FROM policies WHERE id = ? OR failback_of = ?)`,
			`DELETE FROM policies WHERE id = ? OR failback_of = ?`,
		} {
			if _, err := tx.Exec(ctx, q, p.ID, p.ID); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, "policy.delete", v.Name+"/"+p.Name, "")
	})
}

// AssociateRequest is the body of POST /vaults/{vault}/policies/{policy}/associations.
type AssociateRequest struct {
	ConfigServer string `json:"config_server"`
}

// AssociatePolicy associates a policy (and its twin) with a configuration server, so that its
// machines can be protected with it.
func (s *Service) AssociatePolicy(ctx context.Context, vault, name string, req AssociateRequest) (*Policy, error) {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return nil, err
	}
	p, err := s.policy(ctx, v.ID, name)
	if err != nil {
		return nil, err
	}
	if p.FailbackOf != "" {
		return nil, conflict("policy %s is a failback twin: associate %s instead", p.Name, strings.TrimSuffix(p.Name, "-failback"))
	}
	cs, err := s.configServer(ctx, v.ID, req.ConfigServer)
	if err != nil {
		return nil, err
	}
	err = s.db.InTx(ctx, func(tx *dbTx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM policy_associations WHERE policy_id = ? AND config_server_id = ?`, p.ID, cs.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict("policy %s is already associated with configuration server %s", p.Name, cs.Name)
		}
		_, err := tx.Exec(ctx, `INSERT INTO policy_associations (policy_id, config_server_id, created) SELECT id, ?, ? FROM policies WHERE id = ? OR failback_of = ?`, cs.ID, ns(s.clock.Now()), p.ID, p.ID)
		if db.IsUniqueViolation(err) {
			return conflict("policy %s is already associated with configuration server %s", p.Name, cs.Name)
		}
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, "policy.associate", v.Name+"/"+p.Name, "configuration server "+cs.Name)
	})
	if err != nil {
		return nil, err
	}
	return s.policy(ctx, v.ID, name)
}
