package processserver

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/wire"
)

// Config is the process server's configuration file (YAML).
type Config struct {
	Name         string      `yaml:"name"`          // this process server's name (default: its certificate's)
	Listen       string      `yaml:"listen"`        // data path; default ":9443"
	HealthListen string      `yaml:"health_listen"` // control path (/health, /metrics); empty: none
	TLS          TLSConfig   `yaml:"tls"`
	Cache        CacheConfig `yaml:"cache"`
	Store        StoreConfig `yaml:"store"`
	// UploadWorkers bounds how many points upload at once (across machines); default 8.
	UploadWorkers int `yaml:"upload_workers"`
	// IdleTimeout: an agent connection on which nothing arrived for this long is taken for dead
	// and closed (default 60s, between 1s and 10m). The server pings every IdleTimeout/4 and agents
	// answer, so only a silent connection (a vanished peer, a link that drops) reaches it.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// TLSConfig names the server's certificate files (from `osr pki issue --role process-server`).
type TLSConfig struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// CacheConfig places and bounds the disk cache.
type CacheConfig struct {
	Dir string `yaml:"dir"`
	// MaxBytes is the cache's budget (0: it owns its file system, like a dedicated cache drive).
	// With a budget, the free share that health and backpressure judge is what the cache may still
	// take (the budget less what it holds, never more than the file system has left) out of the
	// budget; without, the file system's free share.
	MaxBytes int64 `yaml:"max_bytes"`
	// SyncBytes: an open point's file is fsynced whenever this much was appended since the last
	// fsync (default 64 MiB), so dirty memory stays bounded.
	SyncBytes int64 `yaml:"sync_bytes"`
	// BacklogBytes: reading stops while more than this is waiting for upload (default: no limit
	// beyond free space).
	BacklogBytes int64 `yaml:"backlog_bytes"`
	// MemoryBytes: received data is kept in memory, up to this much across all arriving points
	// beyond 2 MiB each, until its upload has read it, so that uploads do not read the cache back
	// from disk (default 320 MiB: an upload lags its point's arrival by about one partial point of
	// an initial replication, 256 MiB; what does not fit is read from the cache file).
	MemoryBytes int64 `yaml:"memory_bytes"`
}

// StoreConfig locates the replica store, as `osr store` does.
type StoreConfig struct {
	Repo         string `yaml:"repo"`
	PasswordFile string `yaml:"password_file"`
	UploadLimit  int64  `yaml:"upload_limit"` // bytes per second, 0: none
	// Compression of the data the process server uploads: s2 (default), about three times
	// zstd's speed for about a third more bytes, so that one server keeps up with more agents;
	// zstd for the smallest vault (a slow link to it, storage billed by the byte).
	Compression string `yaml:"compression"`
}

// Defaults.
const (
	DefaultListen        = ":9443"
	DefaultUploadWorkers = 8
	DefaultSyncBytes     = 64 << 20
	DefaultCompression   = "s2"
	// MaxFrameBytes is the largest frame payload accepted from agents.
	MaxFrameBytes = 8 << 20
	// HandshakeTimeout bounds TLS and wire handshakes and the Hello.
	HandshakeTimeout = 30 * time.Second
)

// LoadConfig reads and checks a configuration file. Relative paths are taken from the file's
// directory.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	base := filepath.Dir(path)
	for _, p := range []*string{&c.TLS.CA, &c.TLS.Cert, &c.TLS.Key, &c.Cache.Dir, &c.Store.PasswordFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// Check fills defaults and validates.
func (c *Config) Check() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if err := checkListen("listen", c.Listen); err != nil {
		return err
	}
	if c.HealthListen != "" {
		if _, _, err := net.SplitHostPort(c.HealthListen); err != nil {
			return fmt.Errorf("health_listen: %w", err)
		}
	}
	if c.UploadWorkers <= 0 {
		c.UploadWorkers = DefaultUploadWorkers
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = wire.DeadPeerTimeout
	}
	if c.IdleTimeout < time.Second || c.IdleTimeout > 10*time.Minute {
		return fmt.Errorf("idle_timeout %s: must be between 1s and 10m", c.IdleTimeout)
	}
	if c.Cache.SyncBytes <= 0 {
		c.Cache.SyncBytes = DefaultSyncBytes
	}
	if c.Cache.MemoryBytes == 0 {
		c.Cache.MemoryBytes = DefaultMemoryBytes
	}
	if c.Cache.Dir == "" {
		return errors.New("cache.dir is required")
	}
	if c.Cache.MaxBytes < 0 || c.Cache.BacklogBytes < 0 || c.Cache.MemoryBytes < 0 {
		return errors.New("cache sizes must not be negative")
	}
	if c.Store.Compression == "" {
		c.Store.Compression = DefaultCompression
	}
	if _, err := store.ParseCompression(c.Store.Compression); err != nil {
		return fmt.Errorf("store.compression: %w", err)
	}
	return nil
}

func checkListen(field, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	if port == "443" {
		return fmt.Errorf("%s %s: port 443 is not for the data path (use 9443)", field, addr)
	}
	return nil
}
