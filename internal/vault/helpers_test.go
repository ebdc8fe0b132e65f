package vault

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/vault/db"
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

// cheapKDF keeps store init fast in tests.
var cheapKDF = crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}

type env struct {
	t      testing.TB
	svc    *Service
	clk    *clock.Fake
	base   string // https://127.0.0.1:PORT/api/v1
	roots  *x509.CertPool
	client *http.Client
	tokens map[Role]string
	dir    string
}

// engines runs fn against a fresh vault service on SQLite and on PostgreSQL.
func engines(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, eng := range []db.Engine{db.SQLite, db.Postgres} {
		t.Run(string(eng), func(t *testing.T) { fn(t, newEnv(t, eng)) })
	}
}

func newEnv(t testing.TB, eng db.Engine) *env {
	t.Helper()
	dir := t.TempDir()
	dsn := filepath.Join(dir, "vault.db")
	if eng == db.Postgres {
		var err error
		if dsn, err = pg.NewDatabase(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Now().UTC().Truncate(time.Second))
	svc, err := New(Config{
		DB: dsn, MasterKeyFile: filepath.Join(dir, "master.key"),
		URLs: []string{"https://" + ln.Addr().String()}, Hosts: []string{"127.0.0.1"},
		StoreOptions: store.Options{KDF: cheapKDF},
	}, Deps{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done; svc.Close() })
	roots := poolOf(svc.RootCAPEM())
	e := &env{t: t, svc: svc, clk: clk, base: "https://" + ln.Addr().String() + APIPrefix, roots: roots, dir: dir, tokens: map[Role]string{}}
	e.client = httpsClient(roots)
	admin, err := svc.Bootstrap(ctx)
	if err != nil || admin == "" {
		t.Fatalf("bootstrap: %q %v", admin, err)
	}
	e.tokens[RoleOwner] = admin
	for _, r := range []Role{RoleContributor, RoleOperator, RoleReader} {
		name := string(r) + "1"
		e.mustDo("POST", "/users", admin, map[string]any{"name": name, "role": string(r)}, 201)
		var tok Token
		e.decodeInto(e.mustDo("POST", "/tokens", admin, map[string]any{"user": name, "name": "test"}, 201), &tok)
		e.tokens[r] = tok.Secret
	}
	return e
}

func poolOf(pemBytes []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pemBytes)
	return p
}

func httpsClient(roots *x509.CertPool) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 30 * time.Second}
}

// with returns a copy of e that reports to t (for subtests).
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// do sends a request; body is JSON-encoded unless it is a string or []byte (sent as is).
func (e *env) do(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	return e.doWith(e.client, method, path, token, body)
}

func (e *env) doWith(c *http.Client, method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *env) mustDo(method, path, token string, body any, want int) []byte {
	e.t.Helper()
	st, b := e.do(method, path, token, body)
	if st != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, st, want, b)
	}
	return b
}

func (e *env) decodeInto(b []byte, v any) {
	e.t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		e.t.Fatalf("decode %s: %v", b, err)
	}
}

func errorOf(t testing.TB, b []byte) string {
	t.Helper()
	var eb errorBody
	if err := json.Unmarshal(b, &eb); err != nil {
		t.Fatalf("not an error body: %s", b)
	}
	return eb.Error
}

// expectError checks status and the exact error message.
func (e *env) expectError(method, path, token string, body any, status int, msg string) {
	e.t.Helper()
	st, b := e.do(method, path, token, body)
	if st != status || errorOf(e.t, b) != msg {
		e.t.Fatalf("%s %s: got %d %s\nwant %d %q", method, path, st, b, status, msg)
	}
}

func (e *env) createVault(name string) Vault {
	e.t.Helper()
	var v Vault
	u := (&url.URL{Scheme: "file", Path: filepath.Join(e.dir, "storage-"+name)}).String()
	e.decodeInto(e.mustDo("POST", "/vaults", e.tokens[RoleOwner], CreateVaultRequest{Name: name, StorageURL: u}, 201), &v)
	return v
}

// csIdentity is a registered configuration server: its intermediate CA key and an mTLS client.
type csIdentity struct {
	resp   RegisterResponse
	caKey  *ecdsa.PrivateKey
	caCert *x509.Certificate
	client *http.Client
}

func newCSR(t testing.TB) (*ecdsa.PrivateKey, string) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cs"}}, k)
	if err != nil {
		t.Fatal(err)
	}
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func (e *env) regKey(vault string) string {
	e.t.Helper()
	var rk RegistrationKey
	e.decodeInto(e.mustDo("POST", "/vaults/"+vault+"/registration-keys", e.tokens[RoleOwner], nil, 201), &rk)
	return rk.Key
}

// register registers a configuration server and builds its mTLS client (leaf role config-server).
func (e *env) register(vault, name string) *csIdentity {
	e.t.Helper()
	k, csr := newCSR(e.t)
	var resp RegisterResponse
	e.decodeInto(e.mustDo("POST", "/registrations", "", RegisterRequest{RegistrationKey: e.regKey(vault), Name: name, Hostname: name + ".lab", CSRPEM: csr, ClientTime: e.clk.Now()}, 201), &resp)
	blk, _ := pem.Decode([]byte(resp.CACertPEM))
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		e.t.Fatal(err)
	}
	id := &csIdentity{resp: resp, caKey: k, caCert: ca}
	id.client = e.leafClient(id, "config-server", name)
	return id
}

// leafClient is an mTLS client with a leaf of role, issued by the configuration server's CA.
func (e *env) leafClient(id *csIdentity, role, name string) *http.Client {
	e.t.Helper()
	lk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs: []*url.URL{{Scheme: "osr", Opaque: role + "/" + name}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, id.caCert, &lk.PublicKey, id.caKey)
	if err != nil {
		e.t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der, id.caCert.Raw}, PrivateKey: lk}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}}, Timeout: 30 * time.Second}
}

// snapshot is the content of every table but the ones that record reads, for "nothing changed".
func (e *env) snapshot() string {
	e.t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, tbl := range []string{"vaults", "registration_keys", "config_servers", "machines", "policies", "policy_associations", "protected_items", "jobs", "events", "alerts", "users", "tokens", "audit", "webhooks", "webhook_deliveries", "secrets"} {
		rows, err := e.svc.db.Query(ctx, "SELECT * FROM "+tbl+" ORDER BY 1, 2")
		if err != nil {
			e.t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				e.t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %v\n", tbl, vals)
		}
		rows.Close()
	}
	return b.String()
}
