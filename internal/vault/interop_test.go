package vault

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver/vaultlink"
	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/regkey"
)

// TestConfigServerClientInterop runs the configuration server's own vault client
// (internal/configserver/vaultlink) against this service: pinned registration, then mutual TLS.
func TestConfigServerClientInterop(t *testing.T) {
	e := newEnv(t, "sqlite")
	ctx := t.Context()
	e.createVault("lab")
	keyText := e.regKey("lab")
	k, err := regkey.Parse(keyText)
	if err != nil {
		t.Fatal(err)
	}
	base := k.VaultURLs[0]
	pinned := vaultlink.NewClient(base, vaultlink.HTTPClient(vaultlink.PinnedTLS(k.CASHA256), nil, 10*time.Second))
	if _, err := pinned.Probe(ctx); err != nil {
		t.Fatal(err)
	}
	wrong := vaultlink.NewClient(base, vaultlink.HTTPClient(vaultlink.PinnedTLS(strings.Repeat("0", 64)), nil, 10*time.Second))
	if _, err := wrong.Probe(ctx); err == nil {
		t.Fatal("a wrong pin was accepted")
	}
	caKey, csr := newCSR(t)
	reg, err := pinned.Register(ctx, vaultlink.RegisterRequest{RegistrationKey: keyText, Name: "cs1", Hostname: "cs1.lab", CSRPEM: csr, ClientTime: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(reg.CACertPEM))
	caCert, _ := x509.ParseCertificate(blk.Bytes)
	rblk, _ := pem.Decode([]byte(reg.RootCAPEM))
	root, _ := x509.ParseCertificate(rblk.Bytes)
	lk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "cs1"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, URIs: []*url.URL{pki.RoleURI(pki.RoleConfigServer, "cs1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &lk.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	mtls := vaultlink.NewClient(reg.VaultURLs[0], vaultlink.HTTPClient(vaultlink.RootTLS(root, tls.Certificate{Certificate: [][]byte{der, caCert.Raw}, PrivateKey: lk}), nil, 10*time.Second))
	if err := mtls.PutInventory(ctx, []vaultlink.Machine{{Name: "web01", Source: "agent", Disks: []vaultlink.Disk{{Name: "sda", SizeBytes: 1 << 30}}}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ans, err := mtls.SendHeartbeat(ctx, vaultlink.Heartbeat{Time: now, ProcessServers: []vaultlink.PSHealth{{Name: "ps1", LastSeen: now, CacheFreePercent: 90}}})
	if err != nil || ans.DesiredStateVersion != 1 {
		t.Fatalf("heartbeat: %+v %v", ans, err)
	}
	own := e.tokens[RoleOwner]
	e.mustDo("POST", "/vaults/lab/policies", own, CreatePolicyRequest{Name: "gold"}, 201)
	e.mustDo("POST", "/vaults/lab/policies/gold/associations", own, AssociateRequest{ConfigServer: "cs1"}, 200)
	e.mustDo("POST", "/vaults/lab/protected-items", own, EnableRequest{Machine: "web01", Policy: "gold", ProcessServer: "ps1"}, 201)
	ds, err := mtls.GetDesiredState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := e.svc.storePassword(ctx, ds.VaultID)
	if ds.Version != 2 || len(ds.Items) != 1 || ds.Items[0].Policy.AppConsistentFrequencySeconds != 3600 || string(ds.Storage.Password) != string(pw) {
		t.Fatalf("desired state: %+v", ds)
	}
}
