package processserver

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/opensiterecovery/osr/internal/wire"
)

// FuzzCacheFile: whatever a cache file holds, the check either accepts a point whose frames all
// verify or refuses it with an error; it never panics.
func FuzzCacheFile(f *testing.F) {
	sda := newDisk("sda", 64<<10, 1)
	t := &testing.T{}
	f.Add(pointBytes(t, 1, 0, []*disk{sda}, []change{{disk: sda, first: 0, n: 3}, {disk: sda, first: 5, n: 2, zero: true}}))
	f.Add(wire.AppendFrame(nil, wire.TypeBeginPoint, []byte(`{"seq":1,"kind":"crash","disks":[{"name":"a","size":4096}]}`)))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "1.point")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		cp, err := checkPointFile(p, "m", 1)
		if err == nil && (cp.size != int64(len(b)) || cp.base >= 1) {
			t.Fatalf("accepted %+v", cp)
		}
	})
}
