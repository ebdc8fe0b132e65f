package configserver

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver/enroll"
	"github.com/opensiterecovery/osr/internal/configserver/privfile"
)

// DefaultDataDir is where a configuration server keeps its state.
const DefaultDataDir = "/var/lib/osr/config-server"

// DefaultAPIPort is the configuration server's HTTPS port, for process servers and agents (the
// process server's port, 9443 by default, is a different one and never 443).
const DefaultAPIPort = 443

// Files of the data directory (mode 0700; every file 0600).
const (
	RegistrationFile = "registration.json" // written last by install: its presence means installed
	RootFile         = "root.pem"          // vault root CA
	CAFile           = "ca.pem"            // this configuration server's intermediate CA
	CAKeyFile        = "ca.key"
	TLSFile          = "tls.pem" // own leaf (role config-server) and the CA: API and vault client
	TLSKeyFile       = "tls.key"
	PassphraseFile   = "passphrase"
	StateFile        = "state.json"
	AdminSocket      = "admin.sock"
	ProcessServerDir = "process-server" // the default process server's identity and config
)

// Registration is the content of registration.json (docs/formats/config-server.md).
type Registration struct {
	Version        int       `json:"version"`
	Name           string    `json:"name"`
	Hostname       string    `json:"hostname"`
	ConfigServerID string    `json:"config_server_id"`
	VaultID        string    `json:"vault_id"`
	VaultName      string    `json:"vault_name"`
	VaultURLs      []string  `json:"vault_urls"`
	CASHA256       string    `json:"ca_sha256"`
	Proxy          string    `json:"proxy,omitempty"`
	APIAddress     string    `json:"api_address"` // host:port the API listens on ("" host: all)
	Registered     time.Time `json:"registered"`
	// The default process server on this host.
	ProcessServer DefaultPS `json:"process_server"`
}

// DefaultPS describes the process server set up with the configuration server.
type DefaultPS struct {
	Name          string `json:"name"`
	Address       string `json:"address"` // what agents dial, host:port
	ListenAddress string `json:"listen_address"`
	CacheDir      string `json:"cache_dir"`
	ConfigPath    string `json:"config_path"`
}

// LoadRegistration reads registration.json of dir; os.ErrNotExist when not installed.
func LoadRegistration(dir string) (*Registration, error) {
	b, err := privfile.Read(filepath.Join(dir, RegistrationFile), 1<<20)
	if err != nil {
		return nil, err
	}
	return decodeRegistration(b)
}

func decodeRegistration(b []byte) (*Registration, error) {
	var r Registration
	if err := strictJSON(b, &r); err != nil {
		return nil, fmt.Errorf("registration file: %w", err)
	}
	if r.Version != 1 {
		return nil, fmt.Errorf("registration file version %d, this osr reads version 1", r.Version)
	}
	if r.Name == "" || r.ConfigServerID == "" || len(r.VaultURLs) == 0 || r.APIAddress == "" {
		return nil, errors.New("registration file lacks the name, ID, vault URLs or API address")
	}
	return &r, nil
}

// Identity is the configuration server's key material.
type Identity struct {
	Root      *x509.Certificate
	Authority *enroll.Authority
	TLS       tls.Certificate // leaf, CA
}

// LoadIdentity reads the certificates and keys of dir.
func LoadIdentity(dir string, c clock.Clock) (*Identity, error) {
	root, err := readPEMCert(filepath.Join(dir, RootFile))
	if err != nil {
		return nil, fmt.Errorf("vault root CA: %w", err)
	}
	ca, err := readPEMCert(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, fmt.Errorf("configuration server CA: %w", err)
	}
	key, err := ReadKey(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("configuration server CA key: %w", err)
	}
	auth, err := enroll.NewAuthority(ca, key, root, c)
	if err != nil {
		return nil, err
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, TLSFile))
	if err != nil {
		return nil, fmt.Errorf("configuration server certificate: %w", err)
	}
	keyPEM, err := privfile.Read(filepath.Join(dir, TLSKeyFile), 64<<10)
	if err != nil {
		return nil, fmt.Errorf("configuration server key: %w", err)
	}
	tc, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("configuration server certificate: %w", err)
	}
	return &Identity{Root: root, Authority: auth, TLS: tc}, nil
}

// NewKey returns a fresh ECDSA P-256 key.
func NewKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("ecdsa: " + err.Error())
	}
	return k
}

// KeyPEM encodes a private key as PKCS#8 PEM.
func KeyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WriteKey stores a private key with mode 0600.
func WriteKey(path string, k crypto.Signer) error {
	b, err := KeyPEM(k)
	if err != nil {
		return err
	}
	return privfile.Write(path, b)
}

// ReadKey reads a PKCS#8 PEM private key from a 0600 file.
func ReadKey(path string) (crypto.Signer, error) {
	b, err := privfile.Read(path, 64<<10)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PEM PRIVATE KEY", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", path)
	}
	return s, nil
}

func readPEMCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := enroll.ParseCerts(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs[0], nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return privfile.Write(path, append(b, '\n'))
}

func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("data after the JSON object")
	}
	return nil
}
