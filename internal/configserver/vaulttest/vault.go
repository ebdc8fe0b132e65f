// Package vaulttest runs the real vault service in a test process for the configuration server's tests.
package vaulttest

import (
	"context"
	"net"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/vault"
)

// Vault is the real vault service (internal/vault) on SQLite, serving HTTPS on loopback, with one
// vault named "lab" whose storage is a local directory.
type Vault struct {
	Svc   *vault.Service
	URL   string
	Clock *clock.Fake
	Dir   string // database, master key and storage
}

// StartVault starts the vault service in this process; it stops at the end of the test.
func StartVault(t testing.TB) *Vault {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	v := &Vault{URL: "https://" + ln.Addr().String(), Clock: clock.NewFake(time.Now().UTC().Truncate(time.Second)), Dir: dir}
	v.Svc, err = vault.New(vault.Config{DB: filepath.Join(dir, "vault.db"), MasterKeyFile: filepath.Join(dir, "master.key"),
		URLs: []string{v.URL}, Hosts: []string{"127.0.0.1"}, StoreOptions: store.Options{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}}},
		vault.Deps{Clock: v.Clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = v.Svc.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done; v.Svc.Close() })
	u := (&url.URL{Scheme: "file", Path: filepath.Join(dir, "storage")}).String()
	if _, err := v.Svc.CreateVault(ctx, vault.CreateVaultRequest{Name: "lab", StorageURL: u}); err != nil {
		t.Fatal(err)
	}
	return v
}

// Key returns a new registration key of vault lab, issued at the vault's clock.
func (v *Vault) Key(t testing.TB) string {
	t.Helper()
	k, err := v.Svc.CreateRegistrationKey(context.Background(), "lab")
	if err != nil {
		t.Fatal(err)
	}
	return k.Key
}

// Replicate associates a policy "gold" (created on first use) with the configuration server and
// enables replication of machine.
func (v *Vault) Replicate(t testing.TB, cs, machine, ps string) {
	t.Helper()
	ctx := context.Background()
	if _, err := v.Svc.CreatePolicy(ctx, "lab", vault.CreatePolicyRequest{Name: "gold", RPOThresholdSeconds: 900, RetentionSeconds: 86400,
		AppConsistentSeconds: 3600, CrashConsistentSeconds: 300}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Svc.AssociatePolicy(ctx, "lab", "gold", vault.AssociateRequest{ConfigServer: cs}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Svc.EnableReplication(ctx, "lab", vault.EnableRequest{Machine: machine, Policy: "gold", ProcessServer: ps}); err != nil {
		t.Fatal(err)
	}
}
