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
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/vault/db"
)

// TestSecretsSealedAtRest: neither the store password nor the CA or signing keys appear in the
// database file; another master key cannot open them; the master key file is 0600.
func TestSecretsSealedAtRest(t *testing.T) {
	e := newEnv(t, db.SQLite)
	v := e.createVault("lab")
	ctx := context.Background()
	pw, err := e.svc.storePassword(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(e.svc.ca.key)
	e.svc.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	var all []byte
	for _, f := range []string{"vault.db", "vault.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(e.dir, f))
		all = append(all, b...)
	}
	for name, secret := range map[string][]byte{"store password": pw, "root CA key": keyDER, "signing key": e.svc.ca.signKey.Seed()} {
		if bytes.Contains(all, secret) {
			t.Errorf("%s in clear in the database", name)
		}
	}
	if fi, err := os.Stat(filepath.Join(e.dir, "master.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(e.dir, "vault.db")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("database file: %v %v", fi, err)
	}
	// The same database with another master key is refused, clearly.
	other := filepath.Join(t.TempDir(), "other.key")
	_, err = New(Config{DB: filepath.Join(e.dir, "vault.db"), MasterKeyFile: other, URLs: []string{"https://x"}}, Deps{})
	if err == nil || err.Error() != "secret root_ca_key does not decrypt with this master key" {
		t.Fatalf("other master key: %v", err)
	}
	os.WriteFile(other, []byte("short"), 0o600)
	_, err = New(Config{DB: filepath.Join(e.dir, "vault.db"), MasterKeyFile: other, URLs: []string{"https://x"}}, Deps{})
	if err == nil || err.Error() != "master key file "+other+" holds 5 bytes, want 32" {
		t.Fatalf("short master key: %v", err)
	}
}

// TestForeignClientCertificate: a client certificate from a CA the vault did not issue is refused
// in the TLS handshake.
func TestForeignClientCertificate(t *testing.T) {
	e := newEnv(t, db.SQLite)
	now := time.Now()
	ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ct := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rogue"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	cder, _ := x509.CreateCertificate(rand.Reader, ct, ct, &ck.PublicKey, ck)
	ca, _ := x509.ParseCertificate(cder)
	id := &csIdentity{caKey: ck, caCert: ca}
	c := e.leafClient(id, "config-server", "rogue")
	// A Go client offers no certificate the server's CA list does not name: the vault sees none.
	st, b := e.doWith(c, "GET", "/cs/desired-state", "", nil)
	if st != 401 || errorOf(t, b) != "this endpoint needs a configuration server client certificate" {
		t.Fatalf("foreign certificate not offered: %d %s", st, b)
	}
	// Forced on the vault, it fails the handshake.
	tr := c.Transport.(*http.Transport).Clone() // a new connection, not the idle one
	c = &http.Client{Transport: tr}
	cert := tr.TLSClientConfig.Certificates[0]
	tr.TLSClientConfig.Certificates = nil
	tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	req, _ := http.NewRequest("GET", e.base+"/cs/desired-state", nil)
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("foreign client certificate accepted: %s", resp.Status)
	}
	if !strings.Contains(err.Error(), "tls: ") {
		t.Fatalf("foreign client certificate: %v", err)
	}
}
