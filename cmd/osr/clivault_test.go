package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/apiclient"
	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/vault"
)

// cliHarness runs osr commands in-process: env is their environment, add puts the commands
// under test on the root command.
type cliHarness struct {
	t   *testing.T
	env map[string]string
	add func(a *app, root *cobra.Command)
}

// run runs one osr command and returns stdout, stderr and the error.
func (h *cliHarness) run(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut, clock: clock.Real{}, logger: slog.New(slog.DiscardHandler), getenv: func(k string) string { return h.env[k] }}
	root := &cobra.Command{Use: "osr", SilenceUsage: true, SilenceErrors: true}
	root.SetOut(&out)
	root.SetErr(&errOut)
	h.add(a, root)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// ok runs a command that must succeed and returns its stdout.
func (h *cliHarness) ok(args ...string) string {
	h.t.Helper()
	out, errOut, err := h.run(args...)
	if err != nil {
		h.t.Fatalf("osr %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// fails runs a command that must fail with exactly want.
func (h *cliHarness) fails(want string, args ...string) {
	h.t.Helper()
	_, _, err := h.run(args...)
	if err == nil || err.Error() != want {
		h.t.Fatalf("osr %s: error %v, want %q", strings.Join(args, " "), err, want)
	}
}

// testVaultConfig is a vault on ln with its database dsn (a file in dir when empty), its key in
// dir and a fast KDF.
func testVaultConfig(dir, dsn string, ln net.Listener) vault.Config {
	if dsn == "" {
		dsn = filepath.Join(dir, "vault.db")
	}
	return vault.Config{DB: dsn, MasterKeyFile: filepath.Join(dir, "master.key"), URLs: []string{"https://" + ln.Addr().String()},
		Hosts: []string{"127.0.0.1"}, StoreOptions: store.Options{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}}}
}

// serveTestVault builds the vault service of cfg, lets bind bind the services the vault commands
// bind to it (their close runs at cleanup, before the vault stops), serves it on ln, bootstraps
// it and writes the CLI's token, CA and server files into dir. The context ends at cleanup.
func serveTestVault(t *testing.T, dir string, ln net.Listener, cfg vault.Config, bind func(vs *vault.Service) (close func(), err error)) (*vault.Service, context.Context) {
	t.Helper()
	vs, err := vault.New(cfg, vault.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	closeBound, err := bind(vs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { vs.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { closeBound(); cancel(); <-done; vs.Close() })
	tok, err := vs.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{apiclient.TokenFileName: tok, apiclient.CAFileName: string(vs.RootCAPEM()), apiclient.ServerFileName: cfg.URLs[0]} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return vs, ctx
}

// labWithCS creates vault lab (its storage under dir) and registers configuration server cs1
// in it; the context returned acts as cs1.
func labWithCS(t *testing.T, ctx context.Context, vs *vault.Service, dir string) context.Context {
	t.Helper()
	u := (&url.URL{Scheme: "file", Path: filepath.Join(dir, "storage")}).String()
	v, err := vs.CreateVault(ctx, vault.CreateVaultRequest{Name: "lab", StorageURL: u})
	if err != nil {
		t.Fatal(err)
	}
	rk, err := vs.CreateRegistrationKey(ctx, "lab")
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cs"}}, k)
	reg, err := vs.Register(ctx, vault.RegisterRequest{RegistrationKey: rk.Key, Name: "cs1", Hostname: "cs1", ClientTime: time.Now(),
		CSRPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
	if err != nil {
		t.Fatal(err)
	}
	return vault.WithActor(ctx, vault.Actor{ConfigServer: reg.ConfigServerID, VaultID: v.ID})
}

// goldPolicy creates policy gold in vault lab and associates it with cs1.
func goldPolicy(t *testing.T, ctx context.Context, vs *vault.Service) {
	t.Helper()
	if _, err := vs.CreatePolicy(ctx, "lab", vault.CreatePolicyRequest{Name: "gold"}); err != nil {
		t.Fatal(err)
	}
	if _, err := vs.AssociatePolicy(ctx, "lab", "gold", vault.AssociateRequest{ConfigServer: "cs1"}); err != nil {
		t.Fatal(err)
	}
}
