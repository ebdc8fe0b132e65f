package db

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/opensiterecovery/osr/internal/vault/db/pgtest"
)

var pg *pgtest.Server

func TestMain(m *testing.M) {
	var err error
	pg, err = pgtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start postgresql:", err)
		os.Exit(1)
	}
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

func engines(t *testing.T) map[Engine]string {
	dsn, err := pg.NewDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return map[Engine]string{SQLite: filepath.Join(t.TempDir(), "vault.db"), Postgres: dsn}
}

func TestMigrateBothEngines(t *testing.T) {
	ctx := context.Background()
	for eng, dsn := range engines(t) {
		t.Run(string(eng), func(t *testing.T) {
			d, err := Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			if d.Engine != eng {
				t.Fatalf("engine %s, want %s", d.Engine, eng)
			}
			var v int
			if err := d.QueryRow(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != SchemaVersion() {
				t.Fatalf("version %d, %v", v, err)
			}
			if _, err := d.Exec(ctx, `INSERT INTO users (name, role, password_hash, created) VALUES (?, ?, ?, ?)`, "ann", "owner", "", 1); err != nil {
				t.Fatal(err)
			}
			_, err = d.Exec(ctx, `INSERT INTO users (name, role, password_hash, created) VALUES (?, ?, ?, ?)`, "ann", "owner", "", 1)
			if !IsUniqueViolation(err) {
				t.Fatalf("duplicate insert: %v", err)
			}
			d.Close()
			// Reopening applies nothing and keeps the data.
			d, err = Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var n int
			d.QueryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
			if n != 1 {
				t.Fatalf("%d users after reopen", n)
			}
			// A database from a newer osr is refused.
			if _, err := d.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)`, 99, "099_future.sql", 0); err != nil {
				t.Fatal(err)
			}
			_, err = Open(ctx, dsn)
			want := fmt.Sprintf("database schema version 99 is newer than this osr knows (%d): upgrade osr", SchemaVersion())
			if err == nil || err.Error() != want {
				t.Fatalf("got %v, want %s", err, want)
			}
		})
	}
}

func TestRebind(t *testing.T) {
	d := &DB{Engine: Postgres}
	if got := d.Rebind("SELECT a FROM t WHERE b = ? AND c = ?"); got != "SELECT a FROM t WHERE b = $1 AND c = $2" {
		t.Fatal(got)
	}
	d.Engine = SQLite
	if got := d.Rebind("x = ?"); got != "x = ?" {
		t.Fatal(got)
	}
}

// TestConcurrentOpen: services starting together on one empty database apply each migration once.
func TestConcurrentOpen(t *testing.T) {
	ctx := context.Background()
	for eng, dsn := range engines(t) {
		t.Run(string(eng), func(t *testing.T) {
			errs := make(chan error, 4)
			for range 4 {
				go func() {
					d, err := Open(ctx, dsn)
					if err == nil {
						d.Close()
					}
					errs <- err
				}()
			}
			for range 4 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			d, err := Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var n, v int
			d.QueryRow(ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &v)
			if n != SchemaVersion() || v != SchemaVersion() {
				t.Fatalf("%d migration rows, version %d", n, v)
			}
		})
	}
}
