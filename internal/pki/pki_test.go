package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Now()

func issue(t *testing.T, ca *CA, dir string, role Role, name string, hosts ...string) *Identity {
	t.Helper()
	c, k, err := ca.Issue(LeafRequest{Name: name, Role: role, Hosts: hosts, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	cf, kf, err := WriteLeaf(dir, name, c, k)
	if err != nil {
		t.Fatal(err)
	}
	id, err := LoadIdentity(cf, kf, filepath.Join(dir, CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newCA(t *testing.T) (*CA, string) {
	dir := t.TempDir()
	ca, err := InitCA(dir, "", now)
	if err != nil {
		t.Fatal(err)
	}
	return ca, dir
}

// intermediate makes a CA signed by root, as a configuration server's will be.
func intermediate(t *testing.T, root *CA) *CA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "cs1 CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour * 24), KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		MaxPathLenZero: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.Cert, &key.PublicKey, root.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &CA{Cert: c, Key: key, Chain: []*x509.Certificate{c}}
}

func TestInitAndLoad(t *testing.T) {
	ca, dir := newCA(t)
	fi, err := os.Stat(filepath.Join(dir, CAKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key mode %v, %v", fi.Mode(), err)
	}
	if _, err := InitCA(dir, "", now); err == nil || !strings.Contains(err.Error(), "refusing to replace a CA") {
		t.Fatalf("second init: %v", err)
	}
	back, err := LoadCA(dir)
	if err != nil || !back.Cert.Equal(ca.Cert) {
		t.Fatalf("load: %v", err)
	}
	id := issue(t, back, dir, RoleAgent, "web01")
	if id.Role != RoleAgent || id.Name != "web01" || id.Leaf.Subject.CommonName != "web01" {
		t.Fatalf("identity %s %s", id.Role, id.Name)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "web01.key")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("leaf key mode %v", fi.Mode())
	}
	if _, _, err := WriteLeaf(dir, "web01", nil, nil); err == nil || !strings.Contains(err.Error(), "refusing to replace it") {
		t.Fatalf("overwrite: %v", err)
	}
	if _, _, err := ca.Issue(LeafRequest{Name: "x", Role: "admin", Now: now}); err == nil || err.Error() != `unknown role "admin" (want agent, process-server, config-server or vault)` {
		t.Fatal(err)
	}
	// A certificate from another CA does not load against this CA file.
	other, odir := newCA(t)
	c, k, _ := other.Issue(LeafRequest{Name: "x", Role: RoleAgent, Now: now})
	cf, kf, _ := WriteLeaf(odir, "x", c, k)
	if _, err := LoadIdentity(cf, kf, filepath.Join(dir, CACertFile)); err == nil || !strings.Contains(err.Error(), "certificate of agent x does not verify against the CA file") {
		t.Fatalf("foreign: %v", err)
	}
	// A key that is not the certificate's.
	if _, err := LoadIdentity(cf, filepath.Join(dir, "web01.key"), filepath.Join(odir, CACertFile)); err == nil || err.Error() != "the private key does not belong to the certificate" {
		t.Fatalf("key mismatch: %v", err)
	}
}

// handshake runs a TLS handshake over loopback and returns the server's and client's errors.
func handshake(t *testing.T, server *tls.Config, client *tls.Config) (error, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		tc := tls.Server(c, server)
		err = tc.Handshake()
		if err == nil {
			_, err = tc.Write([]byte("ok"))
		}
		srvErr <- err
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), client)
	var cerr error
	if err != nil {
		cerr = err
	} else {
		buf := make([]byte, 2)
		_, cerr = c.Read(buf)
		c.Close()
	}
	return <-srvErr, cerr
}

func TestMutualTLS(t *testing.T) {
	ca, dir := newCA(t)
	ps := issue(t, ca, dir, RoleProcessServer, "ps1", "127.0.0.1", "localhost")
	agent := issue(t, ca, dir, RoleAgent, "web01")
	vault := issue(t, ca, dir, RoleVault, "v1")
	other, odir := newCA(t)
	foreign := issue(t, other, odir, RoleAgent, "web01")
	// Agents from an intermediate CA verify against the root alone.
	inter := intermediate(t, ca)
	idir := t.TempDir()
	os.WriteFile(filepath.Join(idir, CACertFile), must(os.ReadFile(filepath.Join(dir, CACertFile))), 0o644)
	chained := issue(t, inter, idir, RoleAgent, "db01")
	if len(chained.Cert.Certificate) != 2 {
		t.Fatalf("chain of %d certificates", len(chained.Cert.Certificate))
	}

	srv := ps.ServerConfig(PeerCheck{Roles: []Role{RoleAgent}})
	foreignClient := foreign.ClientConfig("127.0.0.1", PeerCheck{Roles: []Role{RoleProcessServer}})
	foreignClient.RootCAs = ps.Roots // it trusts the server; the server must not trust it
	noCert := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: ps.Roots, ServerName: "127.0.0.1"}
	for _, tc := range []struct {
		name    string
		client  *tls.Config
		wantSrv string
	}{
		{"agent", agent.ClientConfig("127.0.0.1", PeerCheck{Roles: []Role{RoleProcessServer}}), ""},
		{"intermediate", chained.ClientConfig("127.0.0.1", PeerCheck{Roles: []Role{RoleProcessServer}}), ""},
		{"no certificate", noCert, "tls: client didn't provide a certificate"},
		{"other CA", foreignClient, "certificate signed by unknown authority"},
		{"wrong role", vault.ClientConfig("127.0.0.1", PeerCheck{Roles: []Role{RoleProcessServer}}), "peer certificate is for role vault v1, not agent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serr, cerr := handshake(t, srv, tc.client)
			if tc.wantSrv == "" {
				if serr != nil || cerr != nil {
					t.Fatalf("server %v, client %v", serr, cerr)
				}
				return
			}
			if serr == nil || !strings.Contains(serr.Error(), tc.wantSrv) {
				t.Fatalf("server error %v, want %q", serr, tc.wantSrv)
			}
			if cerr == nil {
				t.Fatal("client did not notice")
			}
		})
	}
	// The client checks the server too: role, name and host.
	_, cerr := handshake(t, ps.ServerConfig(PeerCheck{Roles: []Role{RoleAgent}}), agent.ClientConfig("127.0.0.1", PeerCheck{Roles: []Role{RoleVault}}))
	if cerr == nil || cerr.Error() != "peer certificate is for role process-server ps1, not vault" {
		t.Fatalf("client role check: %v", cerr)
	}
	_, cerr = handshake(t, ps.ServerConfig(PeerCheck{Roles: []Role{RoleAgent}}), agent.ClientConfig("127.0.0.1", PeerCheck{Roles: []Role{RoleProcessServer}, Name: "ps2"}))
	if cerr == nil || cerr.Error() != "peer certificate is for process-server ps1, not ps2" {
		t.Fatalf("client name check: %v", cerr)
	}
	_, cerr = handshake(t, ps.ServerConfig(PeerCheck{Roles: []Role{RoleAgent}}), agent.ClientConfig("ps.example.net", PeerCheck{Roles: []Role{RoleProcessServer}}))
	if cerr == nil || !strings.Contains(cerr.Error(), "certificate is valid for localhost, not ps.example.net") {
		t.Fatalf("client host check: %v", cerr)
	}
	// TLS 1.2 is refused.
	old := agent.ClientConfig("127.0.0.1", PeerCheck{Roles: []Role{RoleProcessServer}})
	old.MinVersion, old.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	if serr, _ := handshake(t, srv, old); serr == nil || !strings.Contains(serr.Error(), "client offered only unsupported versions") {
		t.Fatalf("TLS 1.2: %v", serr)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestHolder(t *testing.T) {
	for _, tc := range []struct {
		uris    []string
		wantErr string
	}{
		{nil, ErrNoRole.Error()},
		{[]string{"osr:agent/a", "osr:vault/b"}, "certificate names more than one osr role"},
		{[]string{"osr:agent"}, `certificate role URI "osr:agent" is not osr:<role>/<name>`},
		{[]string{"osr:root/x"}, `unknown role "root" (want agent, process-server, config-server or vault)`},
		{[]string{"osr:agent/"}, "certificate holder: name of 0 bytes (want 1 to 255)"},
	} {
		c := &x509.Certificate{}
		for _, u := range tc.uris {
			pu, _ := parseURL(u)
			c.URIs = append(c.URIs, pu)
		}
		if _, _, err := Holder(c); err == nil || err.Error() != tc.wantErr {
			t.Errorf("%v: got %v, want %q", tc.uris, err, tc.wantErr)
		}
	}
}
