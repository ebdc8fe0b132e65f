package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
)

// PeerCheck says which peers a TLS config accepts: a role among Roles and, when Name is set, that
// name exactly.
type PeerCheck struct {
	Roles []Role
	Name  string
}

func (pc PeerCheck) check(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("peer sent no certificate")
	}
	role, name, err := Holder(cs.PeerCertificates[0])
	if err != nil {
		return fmt.Errorf("peer certificate: %w", err)
	}
	if !slices.Contains(pc.Roles, role) {
		return fmt.Errorf("peer certificate is for role %s %s, not %s", role, name, rolesText(pc.Roles))
	}
	if pc.Name != "" && name != pc.Name {
		return fmt.Errorf("peer certificate is for %s %s, not %s", role, name, pc.Name)
	}
	return nil
}

func rolesText(rs []Role) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += " or "
		}
		s += string(r)
	}
	return s
}

// ServerConfig accepts TLS 1.3 connections from clients whose certificate chains to the identity's
// roots and whose role passes check; clients without a certificate are refused.
func (id *Identity) ServerConfig(check PeerCheck) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{id.Cert},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        id.Roots,
		VerifyConnection: check.check,
	}
}

// ClientConfig connects over TLS 1.3 to a server whose certificate chains to the roots, is valid
// for serverName (a DNS name or IP in its SANs) and whose role passes check. It presents the
// identity's chain.
func (id *Identity) ClientConfig(serverName string, check PeerCheck) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{id.Cert},
		RootCAs:          id.Roots,
		ServerName:       serverName,
		VerifyConnection: check.check,
	}
}

// PeerHolder returns the role and name of a connection's verified peer.
func PeerHolder(cs tls.ConnectionState) (Role, string, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
		return "", "", errors.New("peer certificate not verified")
	}
	return Holder(cs.PeerCertificates[0])
}

// Leaf parses a certificate chain's leaf (for callers holding raw DER).
func Leaf(der [][]byte) (*x509.Certificate, error) {
	if len(der) == 0 {
		return nil, errors.New("empty certificate chain")
	}
	return x509.ParseCertificate(der[0])
}
