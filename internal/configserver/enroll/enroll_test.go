package enroll

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver/cstest"
	"github.com/opensiterecovery/osr/internal/passphrase"
)

type rig struct {
	root, ca *cstest.CA
	auth     *Authority
	clock    *clock.Fake
	addr     string
	mu       sync.Mutex
	pass     passphrase.Passphrase
	admitted []Admission
}

func (r *rig) setPass(p passphrase.Passphrase) { r.mu.Lock(); r.pass = p; r.mu.Unlock() }

func newRig(t testing.TB) *rig {
	t.Helper()
	r := &rig{root: cstest.NewRoot(t, "vault root"), clock: clock.NewFake(time.Now()), pass: passphrase.Generate()}
	r.ca = r.root.Intermediate(t, "osr config-server cs1 CA")
	var err error
	r.auth, err = NewAuthority(r.ca.Cert, r.ca.Key, r.root.Cert, r.clock)
	if err != nil {
		t.Fatal(err)
	}
	tlsCert := r.ca.ServerCert(t)
	h := sha256.Sum256(tlsCert.Leaf.Raw)
	srv, err := NewServer(ServerConfig{
		Authority: r.auth,
		Passphrase: func() (passphrase.Passphrase, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.pass, nil
		},
		CertHash: h[:],
		Admit: func(_ context.Context, a Admission) (any, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if a.Name == "taken" {
				return nil, &HTTPError{Status: http.StatusConflict, Message: "machine taken is enrolled with another key"}
			}
			r.admitted = append(r.admitted, a)
			return map[string]string{"process_server": "ps1:9443"}, nil
		},
		Clock: r.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewUnstartedServer(mux)
	hs.TLS = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{tlsCert}}
	hs.StartTLS()
	t.Cleanup(hs.Close)
	r.addr = strings.TrimPrefix(hs.URL, "https://")
	return r
}

func key(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestEnrollAgentAndProcessServer(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	k := key(t)
	res, err := Enroll(ctx, ClientRequest{Address: r.addr, Passphrase: r.pass, Role: RoleAgent, Name: "web01", Key: k,
		Info: map[string]string{"hostname": "web01.example.net"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Config) != `{"process_server":"ps1:9443"}` {
		t.Errorf("config %s", res.Config)
	}
	if !bytes.Equal(res.Root.Raw, r.root.Cert.Raw) || !bytes.Equal(res.CA.Raw, r.ca.Cert.Raw) {
		t.Fatal("answer does not carry the vault root and the configuration server CA")
	}
	// The chain verifies with the vault root alone as anchor.
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(r.root.Cert)
	inter.AddCert(r.ca.Cert)
	if _, err := res.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("agent certificate does not chain to the vault root: %v", err)
	}
	if _, err := res.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("an agent certificate is good for serving TLS")
	}
	if role, name, _ := Identify(res.Cert); role != RoleAgent || name != "web01" || res.Cert.Subject.CommonName != "web01" {
		t.Errorf("identity %s %s", role, name)
	}
	if !res.Cert.NotAfter.Equal(r.ca.Cert.NotAfter) { // the test CA lives a day: a leaf never outlives it
		t.Errorf("not after %s, want the CA's %s", res.Cert.NotAfter, r.ca.Cert.NotAfter)
	}

	ps, err := Enroll(ctx, ClientRequest{Address: r.addr, Passphrase: r.pass, Role: RoleProcessServer, Name: "ps2", Key: key(t),
		DNSNames: []string{"ps2.example.net"}, IPs: []net.IP{net.IPv4(10, 0, 0, 6)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Cert.Verify(x509.VerifyOptions{DNSName: "ps2.example.net", Roots: roots, Intermediates: inter}); err != nil {
		t.Fatalf("process server certificate does not serve ps2.example.net: %v", err)
	}
	if len(ps.Cert.IPAddresses) != 1 || !ps.Cert.IPAddresses[0].Equal(net.IPv4(10, 0, 0, 6)) {
		t.Errorf("ips %v", ps.Cert.IPAddresses)
	}
	if len(r.admitted) != 2 || r.admitted[0].Name != "web01" || string(r.admitted[0].Info) != `{"hostname":"web01.example.net"}` || r.admitted[1].Role != RoleProcessServer {
		t.Fatalf("admitted %+v", r.admitted)
	}

	_, err = Enroll(ctx, ClientRequest{Address: r.addr, Passphrase: r.pass, Role: RoleAgent, Name: "taken", Key: key(t)})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 409 || err.Error() != "configuration server: machine taken is enrolled with another key (HTTP 409)" {
		t.Fatalf("refused admission: %v", err)
	}
}

func TestWrongPassphraseIssuesNothing(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	old := r.pass
	r.setPass(passphrase.Generate()) // regenerated: the old one no longer admits
	_, err := Enroll(ctx, ClientRequest{Address: r.addr, Passphrase: old, Role: RoleAgent, Name: "web01", Key: key(t)})
	if !errors.Is(err, ErrServerProof) {
		t.Fatalf("old passphrase: %v", err)
	}
	if len(r.admitted) != 0 {
		t.Fatal("something was admitted")
	}
}

// post sends raw calls, as a client that skips its own checks would.
func post(t *testing.T, hc *http.Client, url string, in, out any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(in)
	resp, err := hc.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	raw := new(bytes.Buffer)
	raw.ReadFrom(resp.Body)
	if out != nil && resp.StatusCode == 200 {
		json.Unmarshal(raw.Bytes(), out)
	}
	json.Unmarshal(raw.Bytes(), &e)
	return resp.StatusCode, e.Error
}

func TestBadProofsAreRateLimited(t *testing.T) {
	r := newRig(t)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	base := "https://" + r.addr
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key(t))
	attempt := func() (int, string) {
		var ch ChallengeAnswer
		if code, msg := post(t, hc, base+"/v1/enroll/challenge", ChallengeRequest{ClientNonce: passphrase.Nonce()}, &ch); code != 200 {
			return code, msg
		}
		return post(t, hc, base+"/v1/enroll", Request{ChallengeID: ch.ChallengeID, Role: RoleAgent, Name: "web01",
			CSRPEM: string(pemCSR(csr)), Proof: make([]byte, 32)}, nil)
	}
	for i := range FailBurstPerHost {
		if code, msg := attempt(); code != 401 || msg != "wrong passphrase" {
			t.Fatalf("attempt %d: %d %q", i+1, code, msg)
		}
	}
	code, msg := attempt()
	if code != 429 || msg != "too many failed enrollment attempts from 127.0.0.1; retry in 60s" {
		t.Fatalf("attempt over the limit: %d %q", code, msg)
	}
	// Even the right passphrase waits while limited: nothing is checked.
	_, err := Enroll(context.Background(), ClientRequest{Address: r.addr, Passphrase: r.pass, Role: RoleAgent, Name: "web01", Key: key(t)})
	if err == nil || err.Error() != "configuration server: too many failed enrollment attempts from 127.0.0.1; retry in 60s (HTTP 429)" {
		t.Fatalf("while limited: %v", err)
	}
	r.clock.Advance(FailEveryPerHost)
	if _, err := Enroll(context.Background(), ClientRequest{Address: r.addr, Passphrase: r.pass, Role: RoleAgent, Name: "web01", Key: key(t)}); err != nil {
		t.Fatalf("after a minute: %v", err)
	}
	if len(r.admitted) != 1 {
		t.Fatalf("admitted %d, want 1", len(r.admitted))
	}
}

func TestChallengeOnceAndExpiry(t *testing.T) {
	r := newRig(t)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	base := "https://" + r.addr
	k := key(t)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
	// Compute the right proof by hand, over the server's certificate hash.
	conn, err := tls.Dial("tcp", r.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].Raw)
	conn.Close()
	cn := passphrase.Nonce()
	var ch ChallengeAnswer
	post(t, hc, base+"/v1/enroll/challenge", ChallengeRequest{ClientNonce: cn}, &ch)
	req := Request{ChallengeID: ch.ChallengeID, Role: RoleAgent, Name: "web01", CSRPEM: string(pemCSR(csr)),
		Proof: r.pass.ClientProof(cn, ch.ServerNonce, h[:], "agent", "web01", csr)}
	if code, msg := post(t, hc, base+"/v1/enroll", req, nil); code != 200 {
		t.Fatalf("first use: %d %s", code, msg)
	}
	if code, msg := post(t, hc, base+"/v1/enroll", req, nil); code != 401 || msg != "unknown or expired enrollment challenge" {
		t.Fatalf("second use: %d %q", code, msg)
	}
	post(t, hc, base+"/v1/enroll/challenge", ChallengeRequest{ClientNonce: cn}, &ch)
	r.clock.Advance(ChallengeTTL + time.Second)
	req.ChallengeID = ch.ChallengeID
	req.Proof = r.pass.ClientProof(cn, ch.ServerNonce, h[:], "agent", "web01", csr)
	if code, msg := post(t, hc, base+"/v1/enroll", req, nil); code != 401 || msg != "unknown or expired enrollment challenge" {
		t.Fatalf("expired: %d %q", code, msg)
	}
	// A proof for another name does not admit this one.
	post(t, hc, base+"/v1/enroll/challenge", ChallengeRequest{ClientNonce: cn}, &ch)
	req.ChallengeID, req.Name = ch.ChallengeID, "db01"
	req.Proof = r.pass.ClientProof(cn, ch.ServerNonce, h[:], "agent", "web01", csr)
	if code, msg := post(t, hc, base+"/v1/enroll", req, nil); code != 401 || msg != "wrong passphrase" {
		t.Fatalf("proof for another name: %d %q", code, msg)
	}
	for _, tc := range []struct {
		body any
		msg  string
	}{
		{map[string]any{"client_nonce": []byte("short")}, "client_nonce must be 32 bytes"},
		{map[string]any{"client_nonce": cn, "x": 1}, `malformed request: json: unknown field "x"`},
	} {
		if code, msg := post(t, hc, base+"/v1/enroll/challenge", tc.body, nil); code != 400 || msg != tc.msg {
			t.Errorf("%v: %d %q, want %q", tc.body, code, msg, tc.msg)
		}
	}
	if len(r.admitted) != 1 {
		t.Fatalf("admitted %d", len(r.admitted))
	}
}
