package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Engine names a database engine.
type Engine string

const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// DB is the metadata database. It is safe for concurrent use.
type DB struct {
	*sql.DB
	Engine Engine
}

// IsPostgres reports whether dsn names a PostgreSQL database.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens the database named by dsn (a SQLite file path, or a postgres:// URL) and applies
// pending migrations.
func Open(ctx context.Context, dsn string) (*DB, error) {
	var d *DB
	if IsPostgres(dsn) {
		sdb, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgresql database: %w", err)
		}
		sdb.SetMaxOpenConns(20)
		sdb.SetMaxIdleConns(20)
		d = &DB{DB: sdb, Engine: Postgres}
	} else {
		if dsn == "" {
			return nil, errors.New("database path is empty")
		}
		// The database holds sealed secrets and token hashes: owner-only, and SQLite gives its
		// -wal and -shm files the same mode.
		if f, err := os.OpenFile(dsn, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
			return nil, fmt.Errorf("open sqlite database %s: %w", dsn, err)
		} else {
			f.Close()
		}
		// WAL lets readers run beside the single writer; write transactions take the lock at BEGIN
		// (immediate) so that two writers never deadlock upgrading a read lock.
		sdb, err := sql.Open("sqlite", "file:"+dsn+"?_txlock=immediate&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)")
		if err != nil {
			return nil, fmt.Errorf("open sqlite database %s: %w", dsn, err)
		}
		sdb.SetMaxOpenConns(4)
		sdb.SetMaxIdleConns(4)
		sdb.SetConnMaxIdleTime(0)
		d = &DB{DB: sdb, Engine: SQLite}
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := d.ping(pctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("connect to the %s database: %w", d.Engine, err)
	}
	if err := d.migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// ping opens the first connection. With SQLite, a connection's setup (switching a new database to
// WAL takes an exclusive lock, and SQLite does not wait on its busy handler for that) fails with
// SQLITE_BUSY while another process or pool sets up the same file: that is retried until ctx ends.
func (d *DB) ping(ctx context.Context) error {
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, 500*time.Millisecond) {
		err := d.PingContext(ctx)
		if err == nil || d.Engine != SQLite || !strings.Contains(err.Error(), "SQLITE_BUSY") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
	}
}

// Rebind turns ? placeholders into the engine's form. Queries must not hold a literal '?'.
func (d *DB) Rebind(q string) string {
	if d.Engine != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Exec runs a statement written with ? placeholders.
func (d *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return d.ExecContext(ctx, d.Rebind(q), args...)
}

// Query runs a query written with ? placeholders.
func (d *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return d.QueryContext(ctx, d.Rebind(q), args...)
}

// QueryRow runs a query written with ? placeholders that returns at most one row.
func (d *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return d.QueryRowContext(ctx, d.Rebind(q), args...)
}

// Tx is a transaction with the same ?-placeholder helpers.
type Tx struct {
	*sql.Tx
	d *DB
}

// Exec runs a statement in the transaction.
func (t *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.ExecContext(ctx, t.d.Rebind(q), args...)
}

// Query runs a query in the transaction.
func (t *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.QueryContext(ctx, t.d.Rebind(q), args...)
}

// QueryRow runs a one-row query in the transaction.
func (t *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.QueryRowContext(ctx, t.d.Rebind(q), args...)
}

// InTx runs fn in a transaction, committing when fn returns nil and rolling back otherwise.
//
// SQLite runs one write transaction at a time (taken at BEGIN). PostgreSQL runs them at READ
// COMMITTED: callers make check-then-write sequences safe by locking a parent row first (an UPDATE
// of it) and by unique constraints; deadlocks and serialisation failures are retried (up to 10
// times, with a short random pause), so fn must be safe to run again.
func (d *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := d.tryTx(ctx, &sql.TxOptions{}, fn)
		if err != nil && d.Engine == Postgres && attempt < 10 && isSerializationFailure(err) {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(1+rand.IntN(10<<attempt)) * time.Millisecond):
			}
			continue
		}
		return err
	}
}

func (d *DB) tryTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *Tx) error) error {
	stx, err := d.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(&Tx{Tx: stx, d: d}); err != nil {
		stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func isSerializationFailure(err error) bool {
	var sqlState interface{ SQLState() string }
	if errors.As(err, &sqlState) {
		return sqlState.SQLState() == "40001" || sqlState.SQLState() == "40P01"
	}
	return false
}

// IsUniqueViolation reports whether err is a unique-constraint violation on either engine.
func IsUniqueViolation(err error) bool {
	var sqlState interface{ SQLState() string }
	if errors.As(err, &sqlState) {
		return sqlState.SQLState() == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration file %s is not named NNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(migrationFiles, "migrations/"+e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must be 1, 2, 3, ... without gaps", m.name)
		}
	}
	return ms, nil
}

// SchemaVersion is the newest migration this binary knows.
func SchemaVersion() int {
	ms, _ := migrations()
	return len(ms)
}

// migrationLock is the PostgreSQL advisory lock key that serialises migrations of replicas
// starting at once ("osrmigr" in ASCII).
const migrationLock = 0x6f73726d69677200

// migrate applies pending migrations one transaction each. Every transaction first takes the
// migration lock (PostgreSQL: an advisory lock; SQLite: the write lock at BEGIN), then re-reads
// the version, so that several services starting together apply each migration exactly once.
func (d *DB) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	for {
		done := false
		var applied string
		err := d.InTx(ctx, func(tx *Tx) error {
			if d.Engine == Postgres {
				if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(?)`, int64(migrationLock)); err != nil {
					return fmt.Errorf("take the migration lock: %w", err)
				}
			}
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied BIGINT NOT NULL)`); err != nil {
				return fmt.Errorf("create schema_migrations: %w", err)
			}
			var cur int
			if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
				return fmt.Errorf("read schema version: %w", err)
			}
			if cur > len(ms) {
				return fmt.Errorf("database schema version %d is newer than this osr knows (%d): upgrade osr", cur, len(ms))
			}
			if cur == len(ms) {
				done = true
				return nil
			}
			m := ms[cur]
			applied = m.name
			for _, stmt := range splitStatements(m.sql) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("apply migration %s: %q: %w", m.name, firstLine(stmt), err)
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)`, m.version, m.name, time.Now().UnixNano())
			return err
		})
		if err != nil {
			if applied != "" && !strings.Contains(err.Error(), applied) {
				return fmt.Errorf("apply migration %s: %w", applied, err)
			}
			return err
		}
		if done {
			return nil
		}
	}
}

// splitStatements splits a migration at semicolons that end a line; comments (--) are dropped.
func splitStatements(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line + "\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, cur.String())
	}
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
