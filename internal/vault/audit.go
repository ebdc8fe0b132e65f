package vault

import (
	"context"
	"time"
)

// AuditEntry is one change: who, what, when, from where.
type AuditEntry struct {
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail"`
	Remote string    `json:"remote"`
}

// audit records a change inside the transaction that makes it, so that the log and the data never
// disagree.
func (s *Service) audit(ctx context.Context, tx *dbTx, action, target, detail string) error {
	a := actorOf(ctx)
	_, err := tx.Exec(ctx, `INSERT INTO audit (id, time, actor, action, target, detail, remote) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		s.seqID("au-"), ns(s.clock.Now()), a.Name(), action, target, detail, a.Remote)
	return err
}

// ListAudit returns the newest entries first, at most limit (default 100, at most 1000).
func (s *Service) ListAudit(ctx context.Context, limit int) ([]AuditEntry, error) {
	limit = clampLimit(limit)
	rows, err := s.db.Query(ctx, `SELECT id, time, actor, action, target, detail, remote FROM audit ORDER BY time DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.Remote); err != nil {
			return nil, err
		}
		e.Time = fromNS(t)
		out = append(out, e)
	}
	return out, rows.Err()
}

func clampLimit(n int) int {
	if n <= 0 {
		return 100
	}
	return min(n, 1000)
}

// Event is something that happened, for people to read.
type Event struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	VaultID  string    `json:"vault_id"`
	Severity string    `json:"severity"` // info, warning, critical
	Kind     string    `json:"kind"`
	Subject  string    `json:"subject"`
	Message  string    `json:"message"`
}

func (s *Service) event(ctx context.Context, tx *dbTx, vaultID, severity, kind, subject, message string) error {
	_, err := tx.Exec(ctx, `INSERT INTO events (id, time, vault_id, severity, kind, subject, message) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		s.seqID("ev-"), ns(s.clock.Now()), vaultID, severity, kind, subject, message)
	return err
}

// ListEvents returns the newest events first, of one vault when vaultID is set.
func (s *Service) ListEvents(ctx context.Context, vaultID string, limit int) ([]Event, error) {
	rows, err := s.db.Query(ctx, `SELECT id, time, vault_id, severity, kind, subject, message FROM events WHERE (? = '' OR vault_id = ?) ORDER BY time DESC, id DESC LIMIT ?`, vaultID, vaultID, clampLimit(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var e Event
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.VaultID, &e.Severity, &e.Kind, &e.Subject, &e.Message); err != nil {
			return nil, err
		}
		e.Time = fromNS(t)
		out = append(out, e)
	}
	return out, rows.Err()
}
