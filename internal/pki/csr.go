package pki

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParseCSR decodes a PEM PKCS#10 certificate request and verifies its self-signature; only ECDSA
// and Ed25519 keys are accepted. Errors are prefixed with "csr_pem: ", the field that carries CSRs
// in the vault's and the configuration server's APIs.
func ParseCSR(p []byte) (*x509.CertificateRequest, error) {
	blk, _ := pem.Decode(p)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("csr_pem: not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("csr_pem: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("csr_pem: signature does not verify: %w", err)
	}
	switch csr.PublicKeyAlgorithm {
	case x509.ECDSA, x509.Ed25519:
	default:
		return nil, fmt.Errorf("csr_pem: key algorithm %s is not accepted (ECDSA P-256 or Ed25519)", csr.PublicKeyAlgorithm)
	}
	return csr, nil
}
