package vault

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/regkey"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

// RegistrationKey is a new key's text and what the vault records of it.
type RegistrationKey struct {
	ID      string    `json:"id"`
	VaultID string    `json:"vault_id"`
	Expires time.Time `json:"expires"`
	Key     string    `json:"key"`
}

// CreateRegistrationKey issues a single-use key, valid 5 days, for a configuration server to join
// the vault.
func (s *Service) CreateRegistrationKey(ctx context.Context, vault string) (*RegistrationKey, error) {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC().Truncate(time.Second)
	k := &regkey.Key{
		Version: 1, ID: newID("rk-"), VaultID: v.ID, VaultName: v.Name, VaultURLs: s.cfg.URLs,
		CASHA256: s.ca.fp, Signer: s.ca.signID, Issued: now, Expires: now.Add(regkey.Validity),
	}
	text, err := regkey.Sign(k, s.ca.signKey)
	if err != nil {
		return nil, err
	}
	err = s.db.InTx(ctx, func(tx *dbTx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO registration_keys (id, vault_id, created_by, issued, expires, used, used_by) VALUES (?, ?, ?, ?, ?, 0, '')`,
			k.ID, v.ID, actorOf(ctx).Name(), ns(k.Issued), ns(k.Expires)); err != nil {
			return err
		}
		return s.audit(ctx, tx, "registration-key.create", v.Name, k.ID)
	})
	if err != nil {
		return nil, err
	}
	return &RegistrationKey{ID: k.ID, VaultID: v.ID, Expires: k.Expires, Key: text}, nil
}

// RegisterRequest is the body of POST /registrations (docs/control-plane.md).
type RegisterRequest struct {
	RegistrationKey string    `json:"registration_key"`
	Name            string    `json:"name"`
	Hostname        string    `json:"hostname"`
	CSRPEM          string    `json:"csr_pem"`
	ClientTime      time.Time `json:"client_time"`
}

// RegisterResponse is its answer.
type RegisterResponse struct {
	ConfigServerID string    `json:"config_server_id"`
	VaultID        string    `json:"vault_id"`
	VaultName      string    `json:"vault_name"`
	RootCAPEM      string    `json:"root_ca_pem"`
	CACertPEM      string    `json:"ca_cert_pem"`
	VaultURLs      []string  `json:"vault_urls"`
	ServerTime     time.Time `json:"server_time"`
}

// Register admits a configuration server with a registration key: the key is checked (signature,
// expiry) and marked used in the same transaction that records the configuration server, and its
// intermediate CA is signed.
func (s *Service) Register(ctx context.Context, req RegisterRequest) (*RegisterResponse, error) {
	k, err := regkey.Parse(req.RegistrationKey)
	if err != nil {
		return nil, badRequest("%s", err.Error())
	}
	now := s.clock.Now()
	if err := k.Verify(s.ca.lookupSigner, now); err != nil {
		if errors.Is(err, regkey.ErrExpired) {
			return nil, errf(http.StatusGone, "%s", err.Error())
		}
		return nil, errf(http.StatusUnauthorized, "%s", err.Error())
	}
	if err := checkName("configuration server", req.Name); err != nil {
		return nil, err
	}
	if len(req.Hostname) > 253 {
		return nil, badRequest("hostname is longer than 253 characters")
	}
	csID := newID("cs-")
	caPEM, err := pki.SignIntermediateCA(s.ca.root, s.ca.key, pki.IntermediateRequest{CSRPEM: []byte(req.CSRPEM), Name: req.Name, ID: csID, Now: now})
	if err != nil {
		return nil, badRequest("%s", err.Error())
	}
	blk, _ := pem.Decode(caPEM)
	caCert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, err
	}
	resp := &RegisterResponse{ConfigServerID: csID, VaultID: k.VaultID, RootCAPEM: string(s.ca.rootPEM), CACertPEM: string(caPEM), VaultURLs: s.cfg.URLs, ServerTime: now.UTC()}
	err = s.db.InTx(ctx, func(tx *dbTx) error {
		if err := tx.QueryRow(ctx, `SELECT name FROM vaults WHERE id = ?`, k.VaultID).Scan(&resp.VaultName); err != nil {
			return notFound("vault %s does not exist", k.VaultID)
		}
		res, err := tx.Exec(ctx, `UPDATE registration_keys SET used = ?, used_by = ? WHERE id = ? AND vault_id = ? AND used = 0`, ns(now), csID, k.ID, k.VaultID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return conflict("registration key has already been used")
		}
		_, err = tx.Exec(ctx, `INSERT INTO config_servers (id, vault_id, name, hostname, ca_sha256, ca_cert_pem, registered, last_heartbeat, heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?, 0, '{}')`,
			csID, k.VaultID, req.Name, req.Hostname, pki.CertSHA256(caCert), string(caPEM), ns(now))
		if db.IsUniqueViolation(err) {
			return conflict("configuration server %s is already registered", req.Name)
		}
		if err != nil {
			return err
		}
		jobID, err := s.startJob(ctx, tx, k.VaultID, "register-config-server", req.Name)
		if err != nil {
			return err
		}
		if err := s.finishJob(ctx, tx, jobID, "configuration server "+csID, nil); err != nil {
			return err
		}
		if err := s.event(ctx, tx, k.VaultID, "info", "config-server-registered", req.Name, "configuration server "+req.Name+" ("+req.Hostname+") registered"); err != nil {
			return err
		}
		ctx := WithActor(ctx, Actor{ConfigServer: csID, Remote: actorOf(ctx).Remote})
		return s.audit(ctx, tx, "config-server.register", req.Name, "key "+k.ID)
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// WriteRegistrationKey writes a key's text to path, root-only (0600), refusing to overwrite.
func WriteRegistrationKey(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
