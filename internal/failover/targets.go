package failover

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

// Target is a named failover target of a vault: a provider and its settings. Its secret is
// never returned.
type Target struct {
	Name      string            `json:"name"`
	Provider  string            `json:"provider"`
	Settings  map[string]string `json:"settings"`
	HasSecret bool              `json:"has_secret"`
	Created   time.Time         `json:"created"`
}

// AddTargetRequest is the body of POST /vaults/{vault}/targets.
type AddTargetRequest struct {
	Name     string            `json:"name"`
	Provider string            `json:"provider"`
	Settings map[string]string `json:"settings"`
	// Secret is the provider's secret (the azure storage account key); sealed at rest.
	Secret string `json:"secret"`
}

func secretPurpose(vaultID, name string) string { return "target:" + vaultID + "/" + name }

// AddTarget defines a failover target; its provider checks the settings first.
func (s *Service) AddTarget(ctx context.Context, vaultName string, req AddTargetRequest) (*Target, error) {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	if err := checkObjectName("target", req.Name); err != nil {
		return nil, err
	}
	f, ok := s.cfg.Providers[req.Provider]
	if !ok {
		return nil, badRequest("target provider %q is not known (%s)", req.Provider, strings.Join(s.ProviderNames(), ", "))
	}
	if req.Settings == nil {
		req.Settings = map[string]string{}
	}
	tc := TargetConfig{Name: req.Name, Provider: req.Provider, Settings: req.Settings}
	if req.Secret != "" {
		tc.Secret = []byte(req.Secret)
	}
	if _, err := f(tc); err != nil {
		return nil, badRequest("target %s: %v", req.Name, err)
	}
	t := &Target{Name: req.Name, Provider: req.Provider, Settings: req.Settings, HasSecret: req.Secret != "", Created: s.clock.Now().UTC()}
	settings, _ := json.Marshal(req.Settings)
	sealed := ""
	if req.Secret != "" {
		sealed = s.v.SealSecret(secretPurpose(v.ID, req.Name), []byte(req.Secret))
	}
	err = s.v.DB().InTx(ctx, func(tx *db.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM failover_targets WHERE vault_id = ? AND name = ?`, v.ID, req.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict("target %s exists already", req.Name)
		}
		_, err := tx.Exec(ctx, `INSERT INTO failover_targets (vault_id, name, provider, settings, secret, created) VALUES (?, ?, ?, ?, ?, ?)`,
			v.ID, t.Name, t.Provider, string(settings), sealed, ns(t.Created))
		if db.IsUniqueViolation(err) {
			return conflict("target %s exists already", req.Name)
		}
		if err != nil {
			return err
		}
		return s.v.AddAudit(ctx, tx, "target.add", v.Name+"/"+t.Name, t.Provider)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// ListTargets returns a vault's failover targets by name.
func (s *Service) ListTargets(ctx context.Context, vaultName string) ([]Target, error) {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	ts, _, err := s.targets(ctx, v.ID)
	return ts, err
}

func (s *Service) targets(ctx context.Context, vaultID string) ([]Target, map[string]string, error) {
	rows, err := s.v.DB().Query(ctx, `SELECT name, provider, settings, secret, created FROM failover_targets WHERE vault_id = ? ORDER BY name`, vaultID)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	out := []Target{}
	secrets := map[string]string{}
	for rows.Next() {
		var t Target
		var settings, secret string
		var c int64
		if err := rows.Scan(&t.Name, &t.Provider, &settings, &secret, &c); err != nil {
			return nil, nil, err
		}
		if err := json.Unmarshal([]byte(settings), &t.Settings); err != nil {
			return nil, nil, err
		}
		t.HasSecret, t.Created = secret != "", fromNS(c)
		secrets[t.Name] = secret
		out = append(out, t)
	}
	return out, secrets, rows.Err()
}

// RemoveTarget removes a target definition; refused while a failover on it is not finished
// (a test failover not cleaned up, a failover not committed).
func (s *Service) RemoveTarget(ctx context.Context, vaultName, name string) error {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return err
	}
	return s.v.DB().InTx(ctx, func(tx *db.Tx) error {
		var machine, kind string
		err := tx.QueryRow(ctx, `SELECT machine, kind FROM failovers WHERE vault_id = ? AND target = ? AND state IN (?, ?, ?) ORDER BY created LIMIT 1`,
			v.ID, name, RecordRunning, RecordFailed, RecordSucceeded).Scan(&machine, &kind)
		if err == nil {
			return conflict("target %s holds the %s of machine %s: finish it first", name, kindLabel(kind), machine)
		}
		if !isNoRows(err) {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM failover_targets WHERE vault_id = ? AND name = ?`, v.ID, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("target %s does not exist", name)
		}
		return s.v.AddAudit(ctx, tx, "target.remove", v.Name+"/"+name, "")
	})
}

// chooseTarget finds the named target, or the vault's only one when name is empty.
func (s *Service) chooseTarget(ctx context.Context, v *vault.Vault, name string) (*Target, error) {
	ts, _, err := s.targets(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	if name == "" {
		switch len(ts) {
		case 0:
			return nil, conflict("vault %s has no failover target: add one (osr target add)", v.Name)
		case 1:
			return &ts[0], nil
		}
		names := make([]string, len(ts))
		for i, t := range ts {
			names[i] = t.Name
		}
		sort.Strings(names)
		return nil, badRequest("vault %s has %d failover targets (%s): choose one", v.Name, len(ts), strings.Join(names, ", "))
	}
	for i := range ts {
		if ts[i].Name == name {
			return &ts[i], nil
		}
	}
	return nil, notFound("target %s does not exist", name)
}

// provider builds the provider of a target, with its secret unsealed.
func (s *Service) provider(ctx context.Context, vaultID, name string) (target.Provider, error) {
	ts, secrets, err := s.targets(ctx, vaultID)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if t.Name != name {
			continue
		}
		f, ok := s.cfg.Providers[t.Provider]
		if !ok {
			return nil, conflict("target %s uses provider %s, which this vault service does not have", t.Name, t.Provider)
		}
		tc := TargetConfig{Name: t.Name, Provider: t.Provider, Settings: t.Settings}
		if sealed := secrets[t.Name]; sealed != "" {
			if tc.Secret, err = s.v.OpenSecret(secretPurpose(vaultID, t.Name), sealed); err != nil {
				return nil, err
			}
		}
		return f(tc)
	}
	return nil, notFound("target %s does not exist", name)
}
