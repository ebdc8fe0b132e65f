package processserver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSampleConfig(t *testing.T) {
	c, err := LoadConfig(filepath.Join("..", "..", "configs", "process-server.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":9443" || c.HealthListen != "127.0.0.1:9444" || c.Cache.Dir != "/var/cache/osr/process-server" ||
		c.Store.Repo != "/srv/vault" || c.UploadWorkers != 8 || c.Cache.SyncBytes != 64<<20 || c.TLS.Cert != "/etc/osr/pki/ps1.crt" {
		t.Fatalf("%+v", c)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		yaml, wantErr string
	}{
		{"listen: ':443'\ncache: {dir: c}\n", "listen :443: port 443 is not for the data path (use 9443)"},
		{"listen: '0.0.0.0:443'\ncache: {dir: c}\n", "listen 0.0.0.0:443: port 443 is not for the data path (use 9443)"},
		{"listen: ':9443'\n", "cache.dir is required"},
		{"cache: {dir: c, max_bytes: -1}\n", "cache sizes must not be negative"},
		{"listen: 9443\ncache: {dir: c}\n", "listen: address 9443: missing port in address"},
		{"lisen: x\n", "yaml: unmarshal errors:\n  line 1: field lisen not found in type processserver.Config"},
		{"cache: {dir: c}\nstore: {compression: lz4}\n", `store.compression: unknown compression "lz4" (zstd or s2)`},
		{"cache: {dir: c}\nidle_timeout: 500ms\n", "idle_timeout 500ms: must be between 1s and 10m"},
		{"cache: {dir: c}\nidle_timeout: 1h\n", "idle_timeout 1h0m0s: must be between 1s and 10m"},
	} {
		p := filepath.Join(t.TempDir(), "ps.yaml")
		os.WriteFile(p, []byte(tc.yaml), 0o600)
		_, err := LoadConfig(p)
		if err == nil || strings.TrimPrefix(err.Error(), p+": ") != tc.wantErr {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.wantErr)
		}
	}
	c := Config{Cache: CacheConfig{Dir: "x"}}
	if err := c.Check(); err != nil || c.Listen != DefaultListen || c.Store.Compression != "s2" || c.IdleTimeout != time.Minute {
		t.Fatalf("default listen %q, compression %q, %v", c.Listen, c.Store.Compression, err)
	}
}
