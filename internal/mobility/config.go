package mobility

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opensiterecovery/osr/internal/wire"
)

// Config is the mobility service's configuration file (YAML, decoded strictly: unknown fields
// are errors). Relative paths are relative to the file's directory.
type Config struct {
	Machine       string    `yaml:"machine"`
	ProcessServer string    `yaml:"process_server"` // host:port, port 9443 by default
	TLS           TLSConfig `yaml:"tls"`
	StateDir      string    `yaml:"state_dir"`
	Disks         []Disk    `yaml:"disks"`
	// Tracker is scan, ebpf or auto.
	Tracker                 string        `yaml:"tracker"`
	CrashConsistentInterval time.Duration `yaml:"crash_consistent_interval"`
	AppConsistentInterval   time.Duration `yaml:"app_consistent_interval"`
	FreezeTimeout           time.Duration `yaml:"freeze_timeout"`
	Hooks                   Hooks         `yaml:"hooks"`
	Bandwidth               Bandwidth     `yaml:"bandwidth"`
	// VerifyInterval is how often the service compares the source with the replica; 0: never.
	VerifyInterval time.Duration `yaml:"verify_interval"`
	// InitialPointSize is how many bytes of initial replication go into one partial point.
	InitialPointSize Size `yaml:"initial_point_size"`
	// MemoryBuffer bounds what the frozen pass keeps in memory before it spills to the spool file.
	MemoryBuffer Size `yaml:"memory_buffer"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`

	// crashIntervalSet: the file sets crash_consistent_interval (else the ebpf tracker's default
	// of 5s applies when that tracker runs).
	crashIntervalSet bool
}

// TLSConfig names the agent's certificate files (from `osr pki issue --role agent`).
type TLSConfig struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ServerName is the name expected in the process server's certificate; default: the host of
	// process_server.
	ServerName string `yaml:"server_name"`
}

// Disk is a protected disk.
type Disk struct {
	Name string `yaml:"name"`
	Path string `yaml:"path"` // block device, LVM volume or image file
}

// Hooks are scripts run around the freeze of an app-consistent point.
type Hooks struct {
	PreFreeze string        `yaml:"pre_freeze"`
	PostThaw  string        `yaml:"post_thaw"`
	Timeout   time.Duration `yaml:"timeout"`
	// Shutdown stops the workload before a planned failover's final sync (FinalSync with
	// shutdown); arguments: shutdown, machine, seq.
	Shutdown string `yaml:"shutdown"`
}

// Defaults.
const (
	DefaultPort                    = "9443"
	DefaultCrashConsistentInterval = 30 * time.Second
	DefaultAppConsistentInterval   = 60 * time.Minute
	DefaultFreezeTimeout           = 10 * time.Second
	DefaultHookTimeout             = 60 * time.Second
	DefaultInitialPointSize        = 256 << 20
	DefaultMemoryBuffer            = 16 << 20
)

// LoadConfig reads and checks a configuration file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes a configuration; relative paths are made relative to dir.
func ParseConfig(b []byte, dir string) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty configuration")
		}
		return nil, err
	}
	c.crashIntervalSet = c.CrashConsistentInterval != 0
	c.defaults()
	if err := c.check(); err != nil {
		return nil, err
	}
	for _, p := range []*string{&c.TLS.CA, &c.TLS.Cert, &c.TLS.Key, &c.StateDir, &c.Hooks.PreFreeze, &c.Hooks.PostThaw, &c.Hooks.Shutdown} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for i := range c.Disks {
		if !filepath.IsAbs(c.Disks[i].Path) {
			c.Disks[i].Path = filepath.Join(dir, c.Disks[i].Path)
		}
	}
	return &c, nil
}

func (c *Config) defaults() {
	if c.Tracker == "" {
		c.Tracker = "auto"
	}
	if c.CrashConsistentInterval == 0 {
		c.CrashConsistentInterval = DefaultCrashConsistentInterval
	}
	if c.AppConsistentInterval == 0 {
		c.AppConsistentInterval = DefaultAppConsistentInterval
	}
	if c.FreezeTimeout == 0 {
		c.FreezeTimeout = DefaultFreezeTimeout
	}
	if c.Hooks.Timeout == 0 {
		c.Hooks.Timeout = DefaultHookTimeout
	}
	if c.InitialPointSize == 0 {
		c.InitialPointSize = DefaultInitialPointSize
	}
	if c.MemoryBuffer == 0 {
		c.MemoryBuffer = DefaultMemoryBuffer
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.ProcessServer != "" {
		if _, _, err := net.SplitHostPort(c.ProcessServer); err != nil {
			c.ProcessServer = net.JoinHostPort(c.ProcessServer, DefaultPort)
		}
	}
}

func (c *Config) check() error {
	if err := wire.ValidName(c.Machine); err != nil {
		return fmt.Errorf("machine: %w", err)
	}
	if c.ProcessServer == "" {
		return errors.New("process_server: missing (host:port of the process server)")
	}
	if host, port, err := net.SplitHostPort(c.ProcessServer); err != nil || host == "" || port == "" {
		return fmt.Errorf("process_server: %q is not host:port", c.ProcessServer)
	}
	if c.TLS.CA == "" || c.TLS.Cert == "" || c.TLS.Key == "" {
		return errors.New("tls: ca, cert and key are all required (osr pki issue --role agent --name MACHINE)")
	}
	if c.StateDir == "" {
		return errors.New("state_dir: missing")
	}
	if len(c.Disks) == 0 {
		return errors.New("disks: at least one disk is required")
	}
	seen := map[string]bool{}
	for i, d := range c.Disks {
		if err := wire.ValidName(d.Name); err != nil {
			return fmt.Errorf("disks[%d]: %w", i, err)
		}
		if seen[d.Name] {
			return fmt.Errorf("disks[%d]: disk %s named twice", i, d.Name)
		}
		seen[d.Name] = true
		if d.Path == "" {
			return fmt.Errorf("disks[%d]: disk %s has no path", i, d.Name)
		}
	}
	switch c.Tracker {
	case "scan", "ebpf", "auto":
	default:
		return fmt.Errorf("tracker: %q is not scan, ebpf or auto", c.Tracker)
	}
	switch {
	case c.CrashConsistentInterval < time.Second:
		return fmt.Errorf("crash_consistent_interval: %v is below 1s", c.CrashConsistentInterval)
	case c.AppConsistentInterval < c.CrashConsistentInterval:
		return fmt.Errorf("app_consistent_interval: %v is below crash_consistent_interval %v", c.AppConsistentInterval, c.CrashConsistentInterval)
	case c.FreezeTimeout < 100*time.Millisecond || c.FreezeTimeout > 5*time.Minute:
		return fmt.Errorf("freeze_timeout: %v is not between 100ms and 5m", c.FreezeTimeout)
	case c.Hooks.Timeout < 0:
		return fmt.Errorf("hooks.timeout: %v is negative", c.Hooks.Timeout)
	case c.VerifyInterval < 0:
		return fmt.Errorf("verify_interval: %v is negative", c.VerifyInterval)
	case c.InitialPointSize < 4<<20 || c.InitialPointSize%4096 != 0:
		return fmt.Errorf("initial_point_size: %d is not a multiple of 4 KiB of at least 4 MiB", c.InitialPointSize)
	case c.MemoryBuffer < 1<<20:
		return fmt.Errorf("memory_buffer: %d is below 1 MiB", c.MemoryBuffer)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level: %q is not debug, info, warn or error", c.LogLevel)
	}
	return c.Bandwidth.check()
}
