package configserver

import (
	"path/filepath"
	"testing"

	"github.com/opensiterecovery/osr/internal/processserver"
)

// TestWritePSConfigLoads: what installation writes is a process-server configuration the process
// server reads, with the cache budget when one is given and none otherwise.
func TestWritePSConfigLoads(t *testing.T) {
	for _, budget := range []int64{0, 50 << 30} {
		dir := t.TempDir()
		err := WritePSConfig(dir, PSSettings{Name: "ps1", Listen: "127.0.0.1:9443", HealthListen: "127.0.0.1:9444",
			CacheDir: filepath.Join(dir, "cache"), CacheBytes: budget})
		if err != nil {
			t.Fatal(err)
		}
		c, err := processserver.LoadConfig(filepath.Join(dir, PSConfigFile))
		if err != nil {
			t.Fatal(err)
		}
		if c.Cache.MaxBytes != budget || c.Cache.Dir != filepath.Join(dir, "cache") || c.Name != "ps1" {
			t.Fatalf("budget %d: loaded cache %+v name %q", budget, c.Cache, c.Name)
		}
	}
}
