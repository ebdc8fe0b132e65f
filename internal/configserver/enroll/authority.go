package enroll

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"regexp"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/pki"
)

// Role is what a certificate admits its holder as (encoded as internal/pki does).
type Role = pki.Role

// The roles a configuration server issues.
const (
	RoleProcessServer = pki.RoleProcessServer
	RoleAgent         = pki.RoleAgent
	RoleConfigServer  = pki.RoleConfigServer // the configuration server's own leaves
)

// LeafValidity is the life of an issued certificate; holders renew it when a third is left.
const LeafValidity = 90 * 24 * time.Hour

// RenewBefore is how long before expiry a holder asks for a new certificate.
const RenewBefore = 30 * 24 * time.Hour

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,62}$`)

// ValidName checks a process server or machine name (unique in the vault, as in certificates).
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid name %q: use 1 to 63 lowercase letters, digits, '.' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Authority is the configuration server's intermediate CA. It is safe for concurrent use.
type Authority struct {
	ca    *x509.Certificate
	key   crypto.Signer
	root  *x509.Certificate
	clock clock.Clock
}

// NewAuthority returns the authority of the intermediate ca (signed by root) with its key.
func NewAuthority(ca *x509.Certificate, key crypto.Signer, root *x509.Certificate, c clock.Clock) (*Authority, error) {
	if !ca.IsCA {
		return nil, errors.New("configuration server certificate is not a CA")
	}
	if err := ca.CheckSignatureFrom(root); err != nil {
		return nil, fmt.Errorf("configuration server CA is not signed by the vault root CA: %w", err)
	}
	if c == nil {
		c = clock.Real{}
	}
	return &Authority{ca: ca, key: key, root: root, clock: c}, nil
}

// CA returns the intermediate CA certificate.
func (a *Authority) CA() *x509.Certificate { return a.ca }

// Root returns the vault root CA certificate.
func (a *Authority) Root() *x509.Certificate { return a.root }

// Leaf describes a certificate to issue.
type Leaf struct {
	Role     Role
	Name     string
	DNSNames []string // extra server names (process servers and the configuration server only)
	IPs      []net.IP
}

// Identify returns the role and name a certificate carries in its URI SAN osr:<role>/<name>.
func Identify(c *x509.Certificate) (Role, string, error) { return pki.Holder(c) }

// Issue signs a leaf certificate for the public key of a verified CSR.
func (a *Authority) Issue(pub crypto.PublicKey, l Leaf) (*x509.Certificate, error) {
	if err := ValidName(l.Name); err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := a.clock.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: l.Name, OrganizationalUnit: []string{string(l.Role)}},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(LeafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		URIs:         []*url.URL{pki.RoleURI(l.Role, l.Name)},
		DNSNames:     append([]string{l.Name}, l.DNSNames...),
		IPAddresses:  l.IPs,
	}
	switch l.Role {
	case RoleAgent:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	case RoleProcessServer, RoleConfigServer:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	default:
		return nil, fmt.Errorf("invalid role %q", l.Role)
	}
	if tmpl.NotAfter.After(a.ca.NotAfter) {
		tmpl.NotAfter = a.ca.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.ca, pub, a.key)
	if err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// ParseCSR decodes and verifies a PEM CSR (ECDSA or Ed25519 keys); see pki.ParseCSR.
func ParseCSR(p []byte) (*x509.CertificateRequest, error) { return pki.ParseCSR(p) }

// PEM encodes certificates in PEM, in order.
func PEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// ParseCerts decodes one or more PEM certificates.
func ParseCerts(p []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, p = pem.Decode(p)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q is not a CERTIFICATE", blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}

func pemCSR(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}
