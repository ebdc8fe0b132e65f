package mobility

import (
	"os"
	"testing"
)

// FuzzParseConfig: any input is a valid configuration or an error, never a panic; a valid one
// has its defaults filled.
func FuzzParseConfig(f *testing.F) {
	for _, p := range []string{"../../configs/mobility.yaml", "../../configs/mobility-minimal.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(base))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b, "/etc/osr")
		if err != nil {
			return
		}
		if c.FreezeTimeout <= 0 || c.CrashConsistentInterval <= 0 || len(c.Disks) == 0 || c.InitialPointSize <= 0 {
			t.Fatalf("accepted without defaults: %+v", c)
		}
	})
}
