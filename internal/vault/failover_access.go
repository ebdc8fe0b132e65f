package vault

import (
	"context"
	"database/sql"
	"errors"
	"net/http"

	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

// This file holds the few accessors the failover service (internal/failover) needs from the vault:
// the replica store of a vault, item states it owns, jobs, events, audit and sealed secrets. The
// ones taking a *db.Tx run inside the caller's transaction (Service.DB().InTx), so that a failover
// changes its own tables and the vault's in one commit.

// VaultRepo returns a vault (by name or ID) and its replica store, opened once per service.
func (s *Service) VaultRepo(ctx context.Context, vault string) (*Vault, *store.Repo, error) {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.repo(ctx, v)
	if err != nil {
		return nil, nil, err
	}
	return v, r, nil
}

// ItemState returns the state of a protected item in tx (404 "machine M is not protected").
func (s *Service) ItemState(ctx context.Context, tx *db.Tx, vaultID, machine string) (string, error) {
	var st string
	err := tx.QueryRow(ctx, `SELECT state FROM protected_items WHERE vault_id = ? AND machine = ?`, vaultID, machine).Scan(&st)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return "", notFound("machine %s is not protected", machine)
		}
		return "", err
	}
	return st, nil
}

// SetItemFailoverState moves a protected item to failed-over, committed or migration-completed
// in tx, records an item-state event and bumps the vault's desired-state version, so that its
// configuration server stops replicating the machine (these states are not in the desired
// state). Moving to migration-completed also clears the item's open alerts.
func (s *Service) SetItemFailoverState(ctx context.Context, tx *db.Tx, vaultID, machine, state string) error {
	switch state {
	case StateFailedOver, StateCommitted, StateMigrationCompleted:
	default:
		return errf(http.StatusInternalServerError, "state %q is not a failover state", state)
	}
	if err := bumpDesired(ctx, tx, vaultID); err != nil { // first: it locks the vault row
		return err
	}
	old, err := s.ItemState(ctx, tx, vaultID, machine)
	if err != nil {
		return err
	}
	now := ns(s.clock.Now())
	if _, err := tx.Exec(ctx, `UPDATE protected_items SET state = ?, error = '', updated = ? WHERE vault_id = ? AND machine = ?`, state, now, vaultID, machine); err != nil {
		return err
	}
	if state == StateMigrationCompleted {
		if _, err := tx.Exec(ctx, `UPDATE alerts SET cleared = ? WHERE vault_id = ? AND subject = ? AND cleared = 0`, now, vaultID, "item/"+machine); err != nil {
			return err
		}
	}
	if old == state {
		return nil
	}
	return s.event(ctx, tx, vaultID, "info", "item-state", machine, machine+": "+old+" → "+state)
}

// StartJob records a running job of kind on target (a machine) in tx, created by the caller.
func (s *Service) StartJob(ctx context.Context, tx *db.Tx, vaultID, kind, target string) (string, error) {
	return s.startJob(ctx, tx, vaultID, kind, target)
}

// SetJobProgress sets a running job's progress (0-100); a job that ended is left as it is.
func (s *Service) SetJobProgress(ctx context.Context, jobID string, pct float64) error {
	_, err := s.db.Exec(ctx, `UPDATE jobs SET progress = ? WHERE id = ? AND state = ?`, pct, jobID, JobRunning)
	return err
}

// FinishJob ends a job: succeeded with result when jobErr is nil, failed with jobErr's message
// otherwise. With a nil tx it runs on its own.
func (s *Service) FinishJob(ctx context.Context, tx *db.Tx, jobID, result string, jobErr error) error {
	return s.finishJob(ctx, tx, jobID, result, jobErr)
}

// AddEvent records an event of a vault in tx (severity info, warning or critical; subject is
// the machine).
func (s *Service) AddEvent(ctx context.Context, tx *db.Tx, vaultID, severity, kind, subject, message string) error {
	return s.event(ctx, tx, vaultID, severity, kind, subject, message)
}

// AddAudit records an audit entry in tx for the request's caller.
func (s *Service) AddAudit(ctx context.Context, tx *db.Tx, action, target, detail string) error {
	return s.audit(ctx, tx, action, target, detail)
}

// SealSecret encrypts a secret under the master key, bound to purpose; OpenSecret reverses it.
func (s *Service) SealSecret(purpose string, plain []byte) string { return s.box.seal(purpose, plain) }

// OpenSecret decrypts what SealSecret sealed for the same purpose.
func (s *Service) OpenSecret(purpose, sealed string) ([]byte, error) {
	return s.box.open(purpose, sealed)
}
