package local

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/target/vhd"
)

// The test machine: an OS disk of 6 MiB + 12 KiB (not MiB aligned) with data, text and holes,
// and a data disk of 1 MiB + 512 bytes with data at both ends.
func testDisks() []srcDisk {
	const sdaSize = 6<<20 + 12<<10
	return []srcDisk{
		{"sda", testImage(1, sdaSize, 0, 70<<10, 1<<20, 300<<10, 3<<20+100, 5000, sdaSize-9000, 9000)},
		{"sdb", testImage(2, 1<<20+512, 0, 512, 1<<20-100, 612)},
	}
}

func TestCreateFormats(t *testing.T) {
	src := testDisks()
	pt, disks := commitPoint(t, src...)
	for _, tc := range []struct {
		format string
		plain  bool // copy extents instead of the store's export
	}{
		{FormatRaw, false}, {FormatRaw, true},
		{FormatVHD, false}, {FormatVHD, true},
		{FormatQcow2, false},
	} {
		name := tc.format
		if tc.plain {
			name += "-plain"
		}
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			p := newProvider(t, root, tc.format)
			req := request("job-1", pt, disks)
			if tc.plain {
				req.Disks = []target.Disk{plainDisk{disks[0]}, plainDisk{disks[1]}}
			}
			var mu sync.Mutex
			var last, total int64
			res, err := p.Create(context.Background(), req, func(done, tot int64) {
				mu.Lock()
				defer mu.Unlock()
				if done < last {
					t.Errorf("progress went back from %d to %d", last, done)
				}
				last, total = done, tot
			})
			if err != nil {
				t.Fatal(err)
			}
			wantTotal := int64(len(src[0].img) + len(src[1].img))
			if last != wantTotal || total != wantTotal {
				t.Fatalf("progress ended at %d of %d, want %d", last, total, wantTotal)
			}
			dir := filepath.Join(root, "web01-fo-job-1")
			want := target.Result{
				Provider: "local", Location: dir, DefinitionFile: filepath.Join(dir, "machine.json"),
				Disks: []string{filepath.Join(dir, "sda."+tc.format), filepath.Join(dir, "sdb."+tc.format)},
			}
			written, skipped := res.BytesWritten, res.BytesSkipped
			res.BytesWritten, res.BytesSkipped = 0, 0
			if !reflect.DeepEqual(res, want) {
				t.Fatalf("result %+v, want %+v", res, want)
			}
			if written+skipped != wantTotal || written <= 0 || written > wantTotal/2 {
				t.Fatalf("bytes written %d, skipped %d, of %d", written, skipped, wantTotal)
			}
			for i, d := range src {
				checkWithQemu(t, tc.format, res.Disks[i], d.img)
				checkBytes(t, tc.format, res.Disks[i], d.img)
			}
			checkDefinition(t, dir, req.Definition, tc.format, src)
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			wantNames := []string{"." + "sda." + tc.format + ".done", "." + "sdb." + tc.format + ".done", "machine.json", "sda." + tc.format, "sdb." + tc.format}
			if !reflect.DeepEqual(names, wantNames) {
				t.Fatalf("run directory holds %v, want %v", names, wantNames)
			}
			if err := p.Remove(context.Background(), res); err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(root); len(left) != 0 {
				t.Fatalf("Remove left %v", left)
			}
			if err := p.Remove(context.Background(), res); err != nil {
				t.Fatalf("second Remove: %v", err)
			}
		})
	}
}

// checkBytes reads a created raw or VHD file and expects the image, then zeros up to the
// aligned size and the footer (VHD).
func checkBytes(t *testing.T, format, path string, img []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	switch format {
	case FormatRaw:
		if !bytes.Equal(b, img) {
			t.Fatalf("%s differs from the source image", path)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if n := dataBytes(f, int64(len(img))); hasZeroBlock(img) && n >= int64(len(img)) {
			t.Fatalf("%s is not sparse: %d of %d bytes allocated", path, n, len(img))
		}
	case FormatVHD:
		aligned := vhd.AlignedSize(int64(len(img)))
		if int64(len(b)) != aligned+vhd.FooterSize || !bytes.Equal(b[:len(img)], img) || !bytes.Equal(b[len(img):aligned], make([]byte, aligned-int64(len(img)))) {
			t.Fatalf("%s: %d bytes, not the image, zeros to %d and a footer", path, len(b), aligned)
		}
		f, err := vhd.ParseFooter(b[aligned:])
		if err != nil {
			t.Fatal(err)
		}
		if f.CurrentSize != uint64(aligned) || f.Geometry != vhd.ComputeGeometry(aligned) || !f.Time().Equal(testTime) || f.UniqueID != [16]byte{7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7} {
			t.Fatalf("footer %+v", f)
		}
	}
}

func checkDefinition(t *testing.T, dir string, def target.Definition, format string, src []srcDisk) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "machine.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got target.Definition
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	def.Disks = nil
	for _, d := range src {
		def.Disks = append(def.Disks, target.DefinitionDisk{Name: d.name, SizeBytes: int64(len(d.img)), Format: format, File: d.name + "." + format})
	}
	if !reflect.DeepEqual(got, def) {
		t.Fatalf("machine.json\n%s\nwant %+v", b, def)
	}
}

// hasZeroBlock tells whether img has an all-zero 4 KiB block (which a sparse copy leaves a hole).
func hasZeroBlock(img []byte) bool {
	zero := make([]byte, 4096)
	for off := 0; off+4096 <= len(img); off += 4096 {
		if bytes.Equal(img[off:off+4096], zero) {
			return true
		}
	}
	return false
}
