package configserver

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/opensiterecovery/osr/internal/configserver/privfile"
	"github.com/opensiterecovery/osr/internal/configserver/vaultlink"
)

// Files an enrollment writes for a process server beside its identity.
const (
	PSConfigFile      = "process-server.yaml" // for osr process-server serve --config
	StorePasswordFile = "store.password"      // the replica store password, once the vault sent it
)

// DefaultHealthListen is where an installed process server serves /health and /metrics.
const DefaultHealthListen = "127.0.0.1:9444"

// psConfigFile is the part of the process server's configuration (configs/process-server.yaml)
// that installation writes; the process server fills the rest with its defaults.
type psConfigFile struct {
	Name         string `yaml:"name"`
	Listen       string `yaml:"listen"`
	HealthListen string `yaml:"health_listen,omitempty"`
	TLS          struct {
		CA   string `yaml:"ca"`
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
	Cache struct {
		Dir      string `yaml:"dir"`
		MaxBytes int64  `yaml:"max_bytes,omitempty"`
	} `yaml:"cache"`
	Store struct {
		Repo         string `yaml:"repo,omitempty"`
		PasswordFile string `yaml:"password_file,omitempty"`
	} `yaml:"store"`
}

// PSSettings are the choices of a process server installation.
type PSSettings struct {
	Name         string
	Listen       string // host:port of the data path
	HealthListen string // host:port of /health and /metrics; empty: none
	CacheDir     string
	CacheBytes   int64 // the cache's budget; 0: it owns its file system (a dedicated cache drive)
}

// WritePSConfig writes process-server.yaml into an identity directory: the certificate files of the
// enrollment, the cache, and no store yet (ApplyStorage adds it when the vault sends it).
func WritePSConfig(dir string, s PSSettings) error {
	var c psConfigFile
	c.Name, c.Listen, c.HealthListen = s.Name, s.Listen, s.HealthListen
	c.TLS.CA, c.TLS.Cert, c.TLS.Key = IdentityRoot, IdentityCert, IdentityKey
	c.Cache.Dir, c.Cache.MaxBytes = s.CacheDir, s.CacheBytes
	return writePSConfig(filepath.Join(dir, PSConfigFile), &c)
}

func writePSConfig(path string, c *psConfigFile) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	b = append([]byte("# Process server configuration written by osr install; osr process-server serve --config "+filepath.Base(path)+"\n"), b...)
	return privfile.Write(path, b)
}

// ApplyStorage records where the process server of dir uploads: the store password in
// store.password (0600) and the repository in process-server.yaml. It reports whether anything
// changed (the process server must then reopen its store).
func ApplyStorage(dir string, st vaultlink.Storage) (bool, error) {
	if st.URL == "" {
		return false, nil
	}
	path := filepath.Join(dir, PSConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	var c psConfigFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	pwPath := filepath.Join(dir, StorePasswordFile)
	old, _ := os.ReadFile(pwPath)
	if c.Store.Repo == st.URL && c.Store.PasswordFile == StorePasswordFile && bytes.Equal(old, st.Password) {
		return false, nil
	}
	if err := privfile.Write(pwPath, st.Password); err != nil {
		return false, err
	}
	c.Store.Repo, c.Store.PasswordFile = st.URL, StorePasswordFile
	return true, writePSConfig(path, &c)
}
