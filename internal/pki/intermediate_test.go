package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

func TestSignIntermediateCA(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rt := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "root"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(20 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, _ := x509.CreateCertificate(rand.Reader, rt, rt, &rk.PublicKey, rk)
	root, _ := x509.ParseCertificate(der)

	ik, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "anything"}}, ik)
	csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})
	out, err := SignIntermediateCA(root, rk, IntermediateRequest{CSRPEM: csrPEM, Name: "cs1", ID: "cs-1", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(out)
	ic, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !ic.IsCA || ic.MaxPathLen != 0 || !ic.MaxPathLenZero || ic.Subject.CommonName != "osr config-server cs1 CA" || ic.URIs[0].String() != "osr:config-server/cs-1" {
		t.Fatalf("intermediate: %+v", ic)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	if _, err := ic.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, csr, want string }{
		{"not pem", "hello", "csr_pem: not a PEM CERTIFICATE REQUEST"},
		{"cert not csr", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), "csr_pem: not a PEM CERTIFICATE REQUEST"},
	} {
		if _, err := SignIntermediateCA(root, rk, IntermediateRequest{CSRPEM: []byte(tc.csr), Now: now}); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	bad := append([]byte(nil), csrDER...)
	bad[len(bad)-3] ^= 0xff
	_, err = SignIntermediateCA(root, rk, IntermediateRequest{CSRPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: bad}), Now: now})
	if err == nil {
		t.Fatal("tampered CSR accepted")
	}
}
