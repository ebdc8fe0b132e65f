package enroll

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/passphrase"
)

// ClientRequest is what a process server or agent asks for.
type ClientRequest struct {
	Address    string // the configuration server, host:port
	Passphrase passphrase.Passphrase
	Role       Role
	Name       string
	Key        crypto.Signer // the holder's private key; the CSR is made with it
	DNSNames   []string      // process servers: the names agents reach it by
	IPs        []net.IP      // process servers: the addresses agents reach it at
	Info       any           // what the configuration server records about the client
}

// Result is an issued identity.
type Result struct {
	Cert   *x509.Certificate
	CA     *x509.Certificate // the configuration server's intermediate CA
	Root   *x509.Certificate // the vault root CA: trust anchor from now on
	Config json.RawMessage   // what the configuration server sends along
}

// ErrServerProof is returned when the configuration server cannot prove it knows the passphrase.
var ErrServerProof = errors.New("the configuration server did not prove it knows this passphrase: the passphrase is wrong, or the address is not that configuration server")

// Enroll proves the passphrase to the configuration server and returns the certificate it issues.
// Nothing secret is sent before the server has proved it knows the passphrase.
func Enroll(ctx context.Context, req ClientRequest) (*Result, error) {
	var mu sync.Mutex
	var certHash []byte
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // authenticated by the server proof over this certificate
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the configuration server sent no certificate")
			}
			h := sha256.Sum256(cs.PeerCertificates[0].Raw)
			mu.Lock()
			defer mu.Unlock()
			if certHash != nil && !bytes.Equal(certHash, h[:]) {
				return errors.New("the configuration server changed its certificate during enrollment")
			}
			certHash = h[:]
			return nil
		},
	}
	// One connection for both calls: the proofs are bound to its certificate.
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 1, ForceAttemptHTTP2: true}}
	defer hc.CloseIdleConnections()
	base := "https://" + req.Address

	cn := passphrase.Nonce()
	var ch ChallengeAnswer
	if err := call(ctx, hc, base+"/v1/enroll/challenge", ChallengeRequest{ClientNonce: cn}, &ch); err != nil {
		return nil, err
	}
	mu.Lock()
	h := certHash
	mu.Unlock()
	if !passphrase.Equal(req.Passphrase.ServerProof(cn, ch.ServerNonce, h), ch.ServerProof) {
		return nil, ErrServerProof
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: req.Name}, DNSNames: req.DNSNames, IPAddresses: req.IPs}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, req.Key)
	if err != nil {
		return nil, fmt.Errorf("make certificate request: %w", err)
	}
	var info json.RawMessage
	if req.Info != nil {
		if info, err = json.Marshal(req.Info); err != nil {
			return nil, err
		}
	}
	body := Request{
		ChallengeID: ch.ChallengeID,
		Role:        req.Role,
		Name:        req.Name,
		CSRPEM:      string(pemCSR(der)),
		Proof:       req.Passphrase.ClientProof(cn, ch.ServerNonce, h, string(req.Role), req.Name, der),
		Info:        info,
	}
	var ans Answer
	if err := call(ctx, hc, base+"/v1/enroll", body, &ans); err != nil {
		return nil, err
	}
	return verifyAnswer(&ans, req, h)
}

func verifyAnswer(ans *Answer, req ClientRequest, tlsHash []byte) (*Result, error) {
	certs, err := ParseCerts([]byte(ans.CertificatePEM))
	if err != nil {
		return nil, fmt.Errorf("issued certificate: %w", err)
	}
	cas, err := ParseCerts([]byte(ans.CAPEM))
	if err != nil {
		return nil, fmt.Errorf("configuration server CA: %w", err)
	}
	roots, err := ParseCerts([]byte(ans.RootCAPEM))
	if err != nil {
		return nil, fmt.Errorf("vault root CA: %w", err)
	}
	res := &Result{Cert: certs[0], CA: cas[0], Root: roots[0], Config: ans.Config}
	if !publicKeyEqual(res.Cert.PublicKey, req.Key.Public()) {
		return nil, errors.New("the issued certificate is not for this key")
	}
	if err := VerifyLeaf(res.Cert, res.CA, res.Root, req.Role, req.Name); err != nil {
		return nil, fmt.Errorf("the issued certificate does not verify: %w", err)
	}
	return res, nil
}

// VerifyLeaf checks that leaf chains to root through ca and names role and name.
func VerifyLeaf(leaf, ca, root *x509.Certificate, role Role, name string) error {
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	inter.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return err
	}
	r, n, err := Identify(leaf)
	if err != nil {
		return err
	}
	if r != role || n != name {
		return fmt.Errorf("certificate is for %s %s, want %s %s", r, n, role, name)
	}
	return nil
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	ae, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ae.Equal(b)
}

// APIError is an error answer of the configuration server.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("configuration server: %s (HTTP %d)", e.Message, e.Status)
}

func call(ctx context.Context, hc *http.Client, url string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(r)
	if err != nil {
		return fmt.Errorf("reach the configuration server: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("read the configuration server's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = http.StatusText(resp.StatusCode)
		}
		return &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode the configuration server's answer: %w", err)
	}
	return nil
}
