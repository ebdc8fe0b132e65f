// Package pgtest starts a real, throwaway PostgreSQL server for tests: initdb into a temporary
// directory, a unix socket in that directory, no TCP (listen_addresses=”). PostgreSQL refuses to
// run as root, so when the test runs as root the server runs as the "postgres" (or "nobody") user.
//
// One server per test package (start it in TestMain), a fresh database per test (NewDatabase).
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// Server is a running PostgreSQL.
type Server struct {
	dir  string
	cmd  *exec.Cmd
	n    atomic.Int64
	done chan error
}

// FindBin returns the directory holding initdb and postgres, or an error saying how to install them.
func FindBin() (string, error) {
	if d := os.Getenv("OSR_PG_BIN"); d != "" {
		return d, nil
	}
	// Debian installs each major version under /usr/lib/postgresql/N/bin: take the newest.
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	if len(dirs) > 0 {
		return filepath.Dir(dirs[0]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("postgresql server binaries not found (initdb, postgres): install them with `apt-get install postgresql-15` (or the `postgresql` package), or set OSR_PG_BIN")
}

func pgMajor(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

func (s *Server) dsn(db string) string {
	return "postgres:///" + db + "?host=" + s.dir + "&user=postgres&sslmode=disable"
}

// NewDatabase creates an empty database and returns its postgres:// URL.
func (s *Server) NewDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.n.Add(1))
	db, err := sql.Open("pgx", s.dsn("postgres"))
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	return s.dsn(name), nil
}

// Stop stops the server and removes its directory.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	os.RemoveAll(s.dir)
}
