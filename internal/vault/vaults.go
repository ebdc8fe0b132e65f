package vault

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/storage/backends"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

// Vault is a recovery vault: a replica store and what is protected into it.
type Vault struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	StorageURL string    `json:"storage_url"`
	Target     Target    `json:"target"`
	Created    time.Time `json:"created"`
	// Counts, filled by GetVault and ListVaults.
	ProtectedItems int `json:"protected_items"`
	ConfigServers  int `json:"config_servers"`
}

// Target says where failed-over machines go (the seed's "Target" step).
type Target struct {
	// Provider is "local" (disk images in a directory) or "azure" (page blobs in Azure Blob
	// Storage); empty: not configured yet.
	Provider string `json:"provider"`
	// Location: for local, an absolute directory; for azure, an azure://CONTAINER/PREFIX URL.
	Location string `json:"location"`
	// ResourceGroup (azure) groups the failed-over machines' resources.
	ResourceGroup string `json:"resource_group"`
	// Network is the target network failed-over machines attach to.
	Network string `json:"network"`
}

// CreateVaultRequest is the body of POST /vaults.
type CreateVaultRequest struct {
	Name       string `json:"name"`
	StorageURL string `json:"storage_url"`
}

// CreateVault creates the vault's replica store at the storage URL (with a new random password
// kept sealed in the database) and records the vault. It runs as a job.
func (s *Service) CreateVault(ctx context.Context, req CreateVaultRequest) (*Vault, error) {
	if err := checkName("vault", req.Name); err != nil {
		return nil, err
	}
	if req.StorageURL == "" {
		return nil, badRequest("storage_url is required")
	}
	if _, err := s.vaultByName(ctx, req.Name); err == nil {
		return nil, conflict("vault %s already exists", req.Name)
	}
	v := &Vault{ID: newID("v-"), Name: req.Name, StorageURL: req.StorageURL, Created: s.clock.Now().UTC()}
	var jobID string
	if err := s.db.InTx(ctx, func(tx *dbTx) (err error) {
		jobID, err = s.startJob(ctx, tx, v.ID, "create-vault", v.Name)
		return err
	}); err != nil {
		return nil, err
	}
	pw := make([]byte, 32)
	rand.Read(pw)
	password := base64.RawStdEncoding.EncodeToString(pw)
	if err := s.initStore(ctx, v.StorageURL, password); err != nil {
		s.finishJob(ctx, nil, jobID, "", err)
		return nil, badRequest("cannot create the replica store at %s: %v", v.StorageURL, err)
	}
	err := s.db.InTx(ctx, func(tx *dbTx) error {
		_, err := tx.Exec(ctx, `INSERT INTO vaults (id, name, storage_url, store_password, target_provider, target_location, target_resource_group, target_network, desired_version, created) VALUES (?, ?, ?, ?, '', '', '', '', 1, ?)`,
			v.ID, v.Name, v.StorageURL, s.box.seal("store:"+v.ID, []byte(password)), ns(v.Created))
		if db.IsUniqueViolation(err) {
			return conflict("vault %s already exists", req.Name)
		}
		if err != nil {
			return err
		}
		if err := s.event(ctx, tx, v.ID, "info", "vault-created", v.Name, "vault "+v.Name+" created with storage "+v.StorageURL); err != nil {
			return err
		}
		if err := s.finishJob(ctx, tx, jobID, "vault "+v.ID, nil); err != nil {
			return err
		}
		return s.audit(ctx, tx, "vault.create", v.Name, v.StorageURL)
	})
	if err != nil {
		s.finishJob(ctx, nil, jobID, "", err)
		return nil, err
	}
	return v, nil
}

func (s *Service) initStore(ctx context.Context, url, password string) error {
	be, err := backends.Open(ctx, url, backends.Options{Getenv: s.getenv, CreateIfMissing: true, Logger: s.log})
	if err != nil {
		return err
	}
	opts := s.cfg.StoreOptions
	opts.Logger, opts.Clock = s.log, s.clock
	r, err := store.Init(ctx, be, []byte(password), opts)
	if err != nil {
		return err
	}
	_ = r
	return nil
}

// repo opens (once) the replica store of a vault.
func (s *Service) repo(ctx context.Context, v *Vault) (*store.Repo, error) {
	s.reposMu.Lock()
	defer s.reposMu.Unlock()
	if r, ok := s.repos[v.ID]; ok {
		return r, nil
	}
	pw, err := s.storePassword(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	be, err := backends.Open(ctx, v.StorageURL, backends.Options{Getenv: s.getenv, Logger: s.log, Retry: true})
	if err != nil {
		return nil, fmt.Errorf("open vault storage %s: %w", v.StorageURL, err)
	}
	opts := s.cfg.StoreOptions
	opts.Logger, opts.Clock = s.log, s.clock
	r, err := store.Open(ctx, be, pw, opts)
	if err != nil {
		return nil, fmt.Errorf("open the replica store of vault %s: %w", v.Name, err)
	}
	s.repos[v.ID] = r
	return r, nil
}

func (s *Service) storePassword(ctx context.Context, vaultID string) ([]byte, error) {
	var sealed string
	if err := s.db.QueryRow(ctx, `SELECT store_password FROM vaults WHERE id = ?`, vaultID).Scan(&sealed); err != nil {
		return nil, err
	}
	return s.box.open("store:"+vaultID, sealed)
}

const vaultCols = `id, name, storage_url, target_provider, target_location, target_resource_group, target_network, created,
	(SELECT COUNT(*) FROM protected_items p WHERE p.vault_id = vaults.id),
	(SELECT COUNT(*) FROM config_servers c WHERE c.vault_id = vaults.id)`

func scanVault(sc interface{ Scan(...any) error }) (*Vault, error) {
	var v Vault
	var created int64
	err := sc.Scan(&v.ID, &v.Name, &v.StorageURL, &v.Target.Provider, &v.Target.Location, &v.Target.ResourceGroup, &v.Target.Network, &created, &v.ProtectedItems, &v.ConfigServers)
	v.Created = fromNS(created)
	return &v, err
}

func (s *Service) vaultByName(ctx context.Context, name string) (*Vault, error) {
	v, err := scanVault(s.db.QueryRow(ctx, `SELECT `+vaultCols+` FROM vaults WHERE name = ? OR id = ?`, name, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("vault %s does not exist", name)
	}
	return v, err
}

// GetVault returns a vault by name or ID.
func (s *Service) GetVault(ctx context.Context, name string) (*Vault, error) {
	return s.vaultByName(ctx, name)
}

// ListVaults returns all vaults by name.
func (s *Service) ListVaults(ctx context.Context) ([]*Vault, error) {
	rows, err := s.db.Query(ctx, `SELECT `+vaultCols+` FROM vaults ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Vault{}
	for rows.Next() {
		v, err := scanVault(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// DeleteVault removes a vault's metadata; refused while it protects items. Vault storage is left
// as it is (delete it with the storage's own tools once sure).
func (s *Service) DeleteVault(ctx context.Context, name string) error {
	v, err := s.vaultByName(ctx, name)
	if err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *dbTx) error {
		if err := bumpDesired(ctx, tx, v.ID); err != nil { // locks the vault row against enables
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM protected_items WHERE vault_id = ?`, v.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict("vault %s still protects %d items: disable their replication first", v.Name, n)
		}
		for _, q := range []string{
			`DELETE FROM policy_associations WHERE policy_id IN (SELECT id FROM policies WHERE vault_id = ?)`,
			`DELETE FROM policies WHERE vault_id = ?`,
			`DELETE FROM machines WHERE vault_id = ?`,
			`DELETE FROM config_servers WHERE vault_id = ?`,
			`DELETE FROM registration_keys WHERE vault_id = ?`,
			`DELETE FROM vaults WHERE id = ?`,
		} {
			if _, err := tx.Exec(ctx, q, v.ID); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, "vault.delete", v.Name, "")
	})
	if err == nil {
		s.reposMu.Lock()
		delete(s.repos, v.ID)
		s.reposMu.Unlock()
	}
	return err
}

// SetTarget sets where failed-over machines of the vault go.
func (s *Service) SetTarget(ctx context.Context, name string, t Target) (*Vault, error) {
	v, err := s.vaultByName(ctx, name)
	if err != nil {
		return nil, err
	}
	switch t.Provider {
	case "local":
		if !filepath.IsAbs(t.Location) {
			return nil, badRequest("target location %q must be an absolute directory for provider local", t.Location)
		}
		if t.ResourceGroup != "" {
			return nil, badRequest("resource_group applies to provider azure only")
		}
	case "azure":
		if !strings.HasPrefix(t.Location, "azure://") || len(t.Location) <= len("azure://") {
			return nil, badRequest("target location %q must be an azure://CONTAINER[/PREFIX] URL for provider azure", t.Location)
		}
		if t.ResourceGroup == "" {
			return nil, badRequest("resource_group is required for provider azure")
		}
	default:
		return nil, badRequest("target provider %q is not known (local or azure)", t.Provider)
	}
	err = s.db.InTx(ctx, func(tx *dbTx) error {
		if _, err := tx.Exec(ctx, `UPDATE vaults SET target_provider = ?, target_location = ?, target_resource_group = ?, target_network = ? WHERE id = ?`,
			t.Provider, t.Location, t.ResourceGroup, t.Network, v.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "vault.target", v.Name, t.Provider+" "+t.Location)
	})
	if err != nil {
		return nil, err
	}
	v.Target = t
	return v, nil
}

// bumpDesired increases the desired-state version of a vault (items or policies changed).
func bumpDesired(ctx context.Context, tx *dbTx, vaultID string) error {
	_, err := tx.Exec(ctx, `UPDATE vaults SET desired_version = desired_version + 1 WHERE id = ?`, vaultID)
	return err
}
