package configserver

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/opensiterecovery/osr/internal/configserver/enroll"
	"github.com/opensiterecovery/osr/internal/configserver/privfile"
)

// Files of an enrolled process server's or agent's identity directory (docs/formats/config-server.md).
const (
	LinkFile     = "config-server.yaml" // how to reach the configuration server
	IdentityCert = "tls.pem"            // leaf, configuration server CA
	IdentityKey  = "tls.key"
	IdentityRoot = "ca.pem" // the vault root CA: the trust anchor
)

// Link is config-server.yaml: how a process server or agent reaches its configuration server.
// Relative paths are relative to the file's directory.
type Link struct {
	Address string      `yaml:"address"` // host:port of the configuration server's API
	Role    enroll.Role `yaml:"role"`
	Name    string      `yaml:"name"`
	CA      string      `yaml:"ca"`
	Cert    string      `yaml:"cert"`
	Key     string      `yaml:"key"`
}

// Identity files of an enrolled holder.
type HolderIdentity struct {
	Role             enroll.Role
	Name             string
	Cert, CA, Root   *x509.Certificate
	Key              crypto.Signer
	ConfigServerAddr string
}

// WriteIdentity writes the certificate, key, root and link file into dir (created 0700). The link
// names the files relative to itself, so dir may be moved (install stages it).
func WriteIdentity(dir string, h HolderIdentity) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := privfile.Write(filepath.Join(dir, IdentityCert), enroll.PEM(h.Cert, h.CA)); err != nil {
		return err
	}
	if err := WriteKey(filepath.Join(dir, IdentityKey), h.Key); err != nil {
		return err
	}
	if err := privfile.Write(filepath.Join(dir, IdentityRoot), enroll.PEM(h.Root)); err != nil {
		return err
	}
	l := Link{Address: h.ConfigServerAddr, Role: h.Role, Name: h.Name, CA: IdentityRoot, Cert: IdentityCert, Key: IdentityKey}
	b, err := yaml.Marshal(l)
	if err != nil {
		return err
	}
	b = append([]byte("# How this "+string(h.Role)+" reaches its configuration server (written by osr install).\n"), b...)
	return privfile.Write(filepath.Join(dir, LinkFile), b)
}

// PSIdentity is the default process server written by Install.
type PSIdentity struct {
	Dir                    string // where to write now
	Name                   string
	Cert, CA, Root         *x509.Certificate
	Key                    crypto.Signer
	Listen, Address        string
	CacheDir, ConfigServer string
}

// Write writes the identity into p.Dir; final is where p.Dir will end up. It returns the final
// path of the link file, which the process server reads.
func (p PSIdentity) Write(final string) (string, error) {
	err := WriteIdentity(p.Dir, HolderIdentity{Role: enroll.RoleProcessServer, Name: p.Name, Cert: p.Cert, CA: p.CA, Root: p.Root,
		Key: p.Key, ConfigServerAddr: p.ConfigServer})
	if err != nil {
		return "", fmt.Errorf("write process server identity: %w", err)
	}
	return filepath.Join(final, LinkFile), nil
}

// ParseLink decodes a link file strictly (unknown fields are errors) and checks it.
func ParseLink(b []byte) (*Link, error) {
	var l Link
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&l); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(l.Address); err != nil {
		return nil, fmt.Errorf("address %q is not host:port", l.Address)
	}
	if l.Role != enroll.RoleAgent && l.Role != enroll.RoleProcessServer {
		return nil, fmt.Errorf("role %q is not agent or process-server", l.Role)
	}
	if err := enroll.ValidName(l.Name); err != nil {
		return nil, err
	}
	if l.CA == "" || l.Cert == "" || l.Key == "" {
		return nil, errors.New("ca, cert and key are required")
	}
	return &l, nil
}
