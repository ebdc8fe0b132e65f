package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/regkey"
	"github.com/opensiterecovery/osr/internal/vault/db/pgtest"
)

// startVault runs `osr vault serve` in dir (extra flags appended) and waits until it answers.
func startVault(t *testing.T, dir string, extra ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := exec.Command(osrBin, append([]string{"vault", "serve", "--data-dir", dir, "--listen", addr}, extra...)...)
	logf, _ := os.Create(filepath.Join(dir, "serve.log"))
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "vault.url")); err == nil {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				break
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
			t.Fatalf("vault service did not start: %s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return addr
}

// TestVaultCLI runs `osr vault serve` and drives it with the CLI, as a user would.
func TestVaultCLI(t *testing.T) {
	dir := t.TempDir()
	addr := startVault(t, dir)
	if fi, err := os.Stat(filepath.Join(dir, "admin.token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v %v", fi, err)
	}
	c := &cli{t: t, env: append(os.Environ(), "OSR_DATA_DIR="+dir, "OSR_VAULT=", "OSR_SERVER=", "OSR_TOKEN_FILE=", "OSR_CA_FILE=")}
	fail := func(wantMsg string, args ...string) {
		t.Helper()
		_, stderr, code := c.run(args...)
		if code == 0 || strings.TrimSpace(stderr) != "osr: "+wantMsg {
			t.Fatalf("osr %v: exit %d, stderr %q, want %q", args, code, stderr, "osr: "+wantMsg)
		}
	}
	fail("no vault exists yet: create one with osr vault create", "policy", "list")
	out := c.ok("vault", "create", "lab", "--storage", filepath.Join(dir, "store"))
	if !strings.HasPrefix(out, "vault lab created (v-") {
		t.Fatalf("create: %q", out)
	}
	var vs []map[string]any
	if err := json.Unmarshal([]byte(c.ok("vault", "list", "--json")), &vs); err != nil || len(vs) != 1 || vs[0]["name"] != "lab" {
		t.Fatalf("vault list --json: %v %v", vs, err)
	}
	c.ok("vault", "target", "lab", "--provider", "local", "--location", filepath.Join(dir, "failover"))
	if out := c.ok("vault", "show", "lab"); !strings.Contains(out, "Target provider:  local") {
		t.Fatalf("show: %s", out)
	}
	c.ok("policy", "create", "gold", "--rpo-threshold", "15m", "--retention", "24h", "--app-consistent-frequency", "60m", "--crash-consistent-frequency", "30s")
	out = c.ok("policy", "list")
	if !rowStarts(out, "gold", "15m0s", "24h0m0s", "1h0m0s", "30s") || !rowStarts(out, "gold-failback", "15m0s") {
		t.Fatalf("policy list:\n%s", out)
	}
	fail("rpo_threshold_seconds must be between 60 (1m0s) and 86400 (24h0m0s), got 10", "policy", "create", "fast", "--rpo-threshold", "10s")
	keyFile := filepath.Join(dir, "cs1.key")
	c.ok("vault", "registration-key", "--vault", "lab", "--out", keyFile)
	b, _ := os.ReadFile(keyFile)
	if k, err := regkey.Parse(string(b)); err != nil || k.VaultURLs[0] != "https://"+addr {
		t.Fatalf("registration key: %v", err)
	}
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode())
	}
	fail("machine web01 is not in the inventory of any configuration server of vault lab", "replication", "enable", "web01", "--policy", "gold")
	if out := c.ok("replication", "status", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("status --json: %q", out)
	}
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("a long enough password\n"), 0o600)
	c.ok("user", "add", "ann", "--role", "reader", "--password-file", pw)
	annTok := filepath.Join(dir, "ann.token")
	c.ok("token", "create", "--user", "ann", "--out", annTok)
	ann := &cli{t: t, env: append(c.env, "OSR_TOKEN_FILE="+annTok)}
	if out := ann.ok("policy", "list"); !rowStarts(out, "gold", "15m0s") {
		t.Fatalf("reader's policy list:\n%s", out)
	}
	_, stderr, code := ann.run("vault", "create", "x", "--storage", filepath.Join(dir, "x"))
	if code == 0 || strings.TrimSpace(stderr) != "osr: role reader may not do this (needs write)" {
		t.Fatalf("reader create: %d %q", code, stderr)
	}
	out = c.ok("jobs", "list")
	if !rowStarts(out, "create-vault", "lab", "succeeded", "100%") {
		t.Fatalf("jobs:\n%s", out)
	}
	out = c.ok("audit", "list")
	for _, action := range []string{"vault.create", "vault.target", "policy.create", "registration-key.create", "user.add", "token.create"} {
		if !strings.Contains(out, action) {
			t.Fatalf("audit lacks %s:\n%s", action, out)
		}
	}
	if out := c.ok("vault", "config-server", "list"); !strings.HasPrefix(out, "NAME") {
		t.Fatalf("config-server list: %q", out)
	}
	fail("configuration server cs9 does not exist", "vault", "config-server", "remove", "cs9")
	if out := c.ok("webhook", "add", "https://hooks.example.net/osr"); !strings.Contains(out, "signing secret") {
		t.Fatalf("webhook add: %s", out)
	}
	if out := c.ok("webhook", "list"); !strings.Contains(out, "https://hooks.example.net/osr") {
		t.Fatalf("webhook list: %s", out)
	}
	fail(`webhook URL "ftp://x" is not an http or https URL`, "webhook", "add", "ftp://x")
	c.ok("alerts", "list")
	c.ok("events", "list", "--vault", "lab")
	c.ok("recovery-points", "list", "web01")
	c.ok("policy", "delete", "gold")
	c.ok("vault", "delete", "lab")
	fail("vault lab does not exist", "vault", "show", "lab")
}

// rowStarts reports whether a table line holds these cells next to each other, from the first
// column or after an ID column (columns are split on 2+ spaces).
func rowStarts(out string, cells ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		var got []string
		for _, c := range strings.Split(line, "  ") {
			if c = strings.TrimSpace(c); c != "" {
				got = append(got, c)
			}
		}
		for _, from := range []int{0, 1} {
			if len(got) >= from+len(cells) && strings.Join(got[from:from+len(cells)], "|") == strings.Join(cells, "|") {
				return true
			}
		}
	}
	return false
}

// TestVaultServePostgres: the same binary on a PostgreSQL database.
func TestVaultServePostgres(t *testing.T) {
	srv, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	dsn, err := srv.NewDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	startVault(t, dir, "--db", dsn)
	if _, err := os.Stat(filepath.Join(dir, "vault.db")); err == nil {
		t.Fatal("a SQLite file was created beside a PostgreSQL database")
	}
	c := &cli{t: t, env: append(os.Environ(), "OSR_DATA_DIR="+dir, "OSR_VAULT=", "OSR_SERVER=", "OSR_TOKEN_FILE=", "OSR_CA_FILE=")}
	c.ok("vault", "create", "lab", "--storage", filepath.Join(dir, "store"))
	c.ok("policy", "create", "gold")
	if out := c.ok("policy", "show", "gold"); !strings.Contains(out, "RPO threshold:               15m0s") {
		t.Fatalf("policy show:\n%s", out)
	}
	if out := c.ok("user", "list"); !rowStarts(out, "admin", "owner") {
		t.Fatalf("user list:\n%s", out)
	}
}
