package vault

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/opensiterecovery/osr/internal/pki"
)

// authority is the vault's root CA and its registration-key signing key.
type authority struct {
	root    *x509.Certificate
	rootPEM []byte
	key     crypto.Signer
	fp      string // SHA-256 of the root's DER, lowercase hex
	signID  string
	signKey ed25519.PrivateKey
}

// loadAuthority reads the root CA and the signing key from the database, creating them on first
// start. Several vault replicas starting at once on one database agree: the first insert wins and
// everyone reads back what is stored.
func (s *Service) loadAuthority(ctx context.Context) (*authority, error) {
	now := s.clock.Now()
	// Candidates, used only if nothing is stored yet.
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "osr vault root CA"},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLen: 1,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caKeyDER, _ := x509.MarshalPKCS8PrivateKey(caKey)
	_, signKey, _ := ed25519.GenerateKey(rand.Reader)
	signID := newID("sk-")
	cand := map[string]string{
		"root_ca_cert":   string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		"root_ca_key":    s.box.seal("root_ca_key", caKeyDER),
		"signing_key_id": signID,
		"signing_key":    s.box.seal("signing_key", signKey.Seed()),
	}
	err = s.db.InTx(ctx, func(tx *dbTx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM secrets WHERE name = ?`, "root_ca_cert").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		// The first row decides: a replica that loses the race on root_ca_cert inserts nothing.
		res, err := tx.Exec(ctx, `INSERT INTO secrets (name, value, created) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`, "root_ca_cert", cand["root_ca_cert"], ns(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		for _, name := range []string{"root_ca_key", "signing_key_id", "signing_key"} {
			if _, err := tx.Exec(ctx, `INSERT INTO secrets (name, value, created) VALUES (?, ?, ?)`, name, cand[name], ns(now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store the vault root CA: %w", err)
	}
	got := map[string]string{}
	rows, err := s.db.Query(ctx, `SELECT name, value FROM secrets`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		got[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	a := &authority{rootPEM: []byte(got["root_ca_cert"]), signID: got["signing_key_id"]}
	blk, _ := pem.Decode(a.rootPEM)
	if blk == nil {
		return nil, fmt.Errorf("stored root CA certificate is damaged")
	}
	if a.root, err = x509.ParseCertificate(blk.Bytes); err != nil {
		return nil, fmt.Errorf("stored root CA certificate: %w", err)
	}
	kder, err := s.box.open("root_ca_key", got["root_ca_key"])
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kder)
	if err != nil {
		return nil, fmt.Errorf("stored root CA key: %w", err)
	}
	a.key = k.(crypto.Signer)
	seed, err := s.box.open("signing_key", got["signing_key"])
	if err != nil {
		return nil, err
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("stored signing key is damaged")
	}
	a.signKey = ed25519.NewKeyFromSeed(seed)
	a.fp = pki.CertSHA256(a.root)
	return a, nil
}

// lookupSigner returns the public half of the signing key with that ID (nil: unknown).
func (a *authority) lookupSigner(id string) ed25519.PublicKey {
	if id != a.signID {
		return nil
	}
	return a.signKey.Public().(ed25519.PublicKey)
}

// serverCertificate issues the vault's HTTPS certificate for hosts (names or IP addresses) from the
// root; the chain sent is leaf, root (the configuration server pins the root by fingerprint).
func (a *authority) serverCertificate(hosts []string, now time.Time) (tls.Certificate, error) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "osr vault"},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(397 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.root, &key.PublicKey, a.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue the vault server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, a.root.Raw}, PrivateKey: key}, nil
}

func fingerprintHex(der []byte) string {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return ""
	}
	return pki.CertSHA256(c)
}

var _ = hex.EncodeToString
