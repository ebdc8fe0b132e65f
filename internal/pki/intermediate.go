package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"time"
)

// IntermediateRequest asks a root CA to sign an intermediate CA for a configuration server.
type IntermediateRequest struct {
	CSRPEM   []byte        // PKCS#10 CSR; its subject is ignored, its signature must verify
	Name     string        // configuration server name: subject CN "osr config-server NAME CA"
	ID       string        // configuration server ID: URI SAN osr:config-server/ID
	Now      time.Time     // not before (minus 5 minutes of skew allowance)
	Validity time.Duration // default 5 years
}

// SignIntermediateCA signs an intermediate CA certificate (CA, path length 0: it can issue leaf
// certificates only) from the root CA cert/key. It returns the certificate in PEM. Errors about the
// CSR are prefixed with "csr_pem: ".
func SignIntermediateCA(root *x509.Certificate, rootKey crypto.Signer, req IntermediateRequest) ([]byte, error) {
	csr, err := ParseCSR(req.CSRPEM)
	if err != nil {
		return nil, err
	}
	if req.Validity <= 0 {
		req.Validity = 5 * 365 * 24 * time.Hour
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	uri := RoleURI(RoleConfigServer, req.ID)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "osr config-server " + req.Name + " CA"},
		NotBefore:             req.Now.Add(-5 * time.Minute),
		NotAfter:              req.Now.Add(req.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		URIs:                  []*url.URL{uri},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, csr.PublicKey, rootKey)
	if err != nil {
		return nil, fmt.Errorf("sign intermediate CA: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// CertSHA256 is the lowercase hex SHA-256 of a certificate's DER bytes: the fingerprint a
// registration key carries for the vault root CA.
func CertSHA256(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}
