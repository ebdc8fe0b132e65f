package vault

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"sync"

	"github.com/opensiterecovery/osr/internal/vault/db"
)

// leaderLockKey is the PostgreSQL advisory lock that elects the replica running the vault's
// background work. Any constant works as long as every replica uses the same one.
const leaderLockKey int64 = 0x6f73722d6c656164 // "osr-lead"

// leadership elects one replica of a highly available vault (several services on one PostgreSQL
// database) to run the background work: alert evaluation and webhook delivery. Done by every
// replica, that work would raise an alert or post a webhook once per replica.
//
// On PostgreSQL the leader is the replica whose dedicated connection holds a session advisory lock.
// When the leader's process dies, or its connection breaks, PostgreSQL releases the lock and
// another replica takes it at its next check; a leader whose connection fails its check stops
// leading at once. On SQLite there is a single replica, which always leads.
type leadership struct {
	db *db.DB

	mu   sync.Mutex
	conn *sql.Conn // holds the lock while leading (PostgreSQL)
	lead bool
}

func newLeadership(d *db.DB) *leadership {
	return &leadership{db: d, lead: d.Engine != db.Postgres}
}

// check renews or tries to take the leadership and reports whether this replica leads now.
func (l *leadership) check(ctx context.Context) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.db.Engine != db.Postgres {
		l.lead = true
		return true
	}
	if l.conn != nil {
		var one int
		if err := l.conn.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err == nil {
			return true
		}
		l.conn.Raw(func(any) error { return driver.ErrBadConn }) // the pool must not reuse it
		l.conn.Close()
		l.conn, l.lead = nil, false
	}
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return false
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, leaderLockKey).Scan(&got); err != nil || !got {
		conn.Close()
		return false
	}
	l.conn, l.lead = conn, true
	return true
}

// leading reports the result of the last check.
func (l *leadership) leading() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lead
}

// release gives the leadership up (on shutdown, so that another replica takes over at once).
func (l *leadership) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		l.conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, leaderLockKey)
		l.conn.Close()
		l.conn = nil
	}
	l.lead = false
}
