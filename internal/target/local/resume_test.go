package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/target"
)

// TestCreateResume cancels Create while it writes the second disk, runs it again and expects the
// first disk kept as it was, the second complete, and the whole result byte-exact; then damages
// a finished disk and expects only that one written again.
func TestCreateResume(t *testing.T) {
	src := []srcDisk{
		{"sda", testImage(3, 1<<20+512, 0, 1<<20+512)},
		{"sdb", testImage(4, 13<<20+4096, 0, 3<<20, 5<<20, 6<<20, 13<<20, 4096)},
	}
	pt, disks := commitPoint(t, src...)
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, format := range []string{FormatRaw, FormatVHD, FormatQcow2} {
		for _, plain := range []bool{false, true} {
			name := format
			if plain {
				if format == FormatQcow2 {
					continue // qcow2 never uses the raw export
				}
				name += "-plain"
			}
			t.Run(name, func(t *testing.T) {
				root := t.TempDir()
				p := newProvider(t, root, format)
				p.cfg.Workers = 1
				req := request("job-2", pt, disks)
				if plain {
					req.Disks = []target.Disk{plainDisk{disks[0]}, plainDisk{disks[1]}}
				}
				dir := filepath.Join(root, "web01-fo-job-2")
				sdaFile := filepath.Join(dir, "sda."+format)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				_, err := p.Create(ctx, req, func(done, total int64) {
					if done > int64(len(src[0].img))+1<<20 {
						cancel()
					}
				})
				if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "local target: disk sdb: ") {
					t.Fatalf("cancelled Create: %v", err)
				}
				if _, err := os.Stat(filepath.Join(dir, "machine.json")); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("machine.json after a cancelled Create: %v", err)
				}
				if _, err := os.Stat(filepath.Join(dir, ".sdb."+format+".done")); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("done marker of the interrupted disk: %v", err)
				}
				if err := os.Chtimes(sdaFile, old, old); err != nil {
					t.Fatal(err)
				}
				var last atomic.Int64
				res, err := p.Create(context.Background(), req, func(done, total int64) { last.Store(done) })
				if err != nil {
					t.Fatal(err)
				}
				if want := int64(len(src[0].img) + len(src[1].img)); last.Load() != want {
					t.Fatalf("progress ended at %d, want %d", last.Load(), want)
				}
				if fi, err := os.Stat(sdaFile); err != nil || !fi.ModTime().Equal(old) {
					t.Fatalf("the finished disk was written again (%v, %v)", fi.ModTime(), err)
				}
				for i, d := range src {
					checkBytes(t, format, res.Disks[i], d.img)
					checkWithQemu(t, format, res.Disks[i], d.img)
				}
				checkDefinition(t, dir, req.Definition, format, src)

				// Idempotent once complete.
				again, err := p.Create(context.Background(), req, nil)
				if err != nil || !reflect.DeepEqual(again, res) {
					t.Fatalf("Create of a complete run: %+v, %v; want %+v", again, err, res)
				}
				if fi, err := os.Stat(sdaFile); err != nil || !fi.ModTime().Equal(old) {
					t.Fatalf("the finished disk was written again (%v, %v)", fi.ModTime(), err)
				}

				// A damaged disk (cut short) behind a done marker is written again; the
				// other is kept.
				sdbFile := filepath.Join(dir, "sdb."+format)
				if err := os.Truncate(sdbFile, 4096); err != nil {
					t.Fatal(err)
				}
				if _, err := p.Create(context.Background(), req, nil); err != nil {
					t.Fatal(err)
				}
				checkBytes(t, format, sdbFile, src[1].img)
				checkWithQemu(t, format, sdbFile, src[1].img)
				if fi, err := os.Stat(sdaFile); err != nil || !fi.ModTime().Equal(old) {
					t.Fatalf("the finished disk was written again (%v, %v)", fi.ModTime(), err)
				}

				// A marker of another point makes the disk be written again.
				mp := filepath.Join(dir, ".sda."+format+".done")
				b, err := os.ReadFile(mp)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(mp, []byte(strings.Replace(string(b), pt.ID, "0123", 1)), 0o644); err != nil {
					t.Fatal(err)
				}
				if _, err := p.Create(context.Background(), req, nil); err != nil {
					t.Fatal(err)
				}
				if fi, err := os.Stat(sdaFile); err != nil || fi.ModTime().Equal(old) {
					t.Fatalf("a disk with another point's marker was kept (%v, %v)", fi.ModTime(), err)
				}
				checkBytes(t, format, sdaFile, src[0].img)

				if err := p.Remove(context.Background(), res); err != nil {
					t.Fatal(err)
				}
				if left, _ := os.ReadDir(root); len(left) != 0 {
					t.Fatalf("Remove left %v", left)
				}
			})
		}
	}
}
