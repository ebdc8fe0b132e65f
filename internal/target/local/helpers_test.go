package local

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/storage/file"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/target"
)

var testTime = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// srcDisk is a disk image of the test machine, as the source had it at the point.
type srcDisk struct {
	name string
	img  []byte
}

// testImage is a disk of size bytes with random and text data in places and holes elsewhere.
func testImage(seed uint64, size int, ranges ...int) []byte {
	rng := rand.New(rand.NewPCG(seed, 3))
	img := make([]byte, size)
	for i := 0; i < len(ranges); i += 2 {
		for j := ranges[i]; j < ranges[i]+ranges[i+1]; j++ {
			if j%8192 < 4096 {
				img[j] = byte(rng.Uint32())
			} else {
				img[j] = "osr text "[j%9]
			}
		}
	}
	return img
}

// commitPoint commits the disks as one point of machine web01 in a new file:// store and opens
// them as target disks.
func commitPoint(t testing.TB, disks ...srcDisk) (*store.Point, []target.Disk) {
	t.Helper()
	ctx := context.Background()
	be, err := file.Open(filepath.Join(t.TempDir(), "repo"), file.Options{CreateIfMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := store.Options{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}, PackSize: 4 << 20}
	r, err := store.Init(ctx, be, []byte("secret"), opts)
	if err != nil {
		t.Fatal(err)
	}
	var specs []store.DiskSpec
	for _, d := range disks {
		specs = append(specs, store.DiskSpec{Name: d.name, Size: int64(len(d.img))})
	}
	w, err := r.NewWriter(ctx, "web01", nil, specs)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range disks {
		if _, err := w.Disk(d.name).WriteAt(d.img, 0); err != nil {
			t.Fatal(err)
		}
	}
	pt, err := w.Commit(ctx, store.CommitMeta{Time: testTime})
	if err != nil {
		t.Fatal(err)
	}
	td, err := target.OpenStoreDisks(r, pt)
	if err != nil {
		t.Fatal(err)
	}
	return pt, td
}

// request is a failover request of web01 at pt with disks.
func request(run string, pt *store.Point, disks []target.Disk) target.Request {
	def := target.Definition{
		Version: 1, Name: "web01-fo", Source: "web01", PointID: pt.ID, PointAt: testTime.Format(time.RFC3339),
		OS: "linux", Firmware: "bios", CPUs: 2, MemoryMB: 2048,
		NICs: []target.NIC{{Name: "eth0", MAC: "52:54:00:12:34:56", SourceNetwork: "prod", Network: "dr-net", IPMode: "dhcp"}},
	}
	for _, d := range disks {
		def.Disks = append(def.Disks, target.DefinitionDisk{Name: d.Name()})
	}
	return target.Request{Run: run, Definition: def, Disks: disks}
}

func newProvider(t testing.TB, dir, format string) *Provider {
	t.Helper()
	p, err := New(Config{Dir: dir, Format: format, Clock: clock.NewFake(testTime), Rand: bytes.NewReader(bytes.Repeat([]byte{7}, 1<<10))})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// plainDisk hides a disk's raw export, so the provider copies its extents itself.
type plainDisk struct{ target.Disk }

func qemuImg(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Fatal("qemu-img not found: install it with apt-get install qemu-utils")
	}
	return p
}

func runQemu(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(qemuImg(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// virtualSize returns the virtual size qemu-img info reports of an image.
func virtualSize(t testing.TB, args ...string) int64 {
	t.Helper()
	out := runQemu(t, append([]string{"info", "--output=json"}, args...)...)
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("qemu-img info: %v\n%s", err, out)
	}
	return info.VirtualSize
}

func writeRaw(t testing.TB, img []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "source.raw")
	if err := os.WriteFile(p, img, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkWithQemu checks a created disk image with qemu-img against the source image.
func checkWithQemu(t testing.TB, format, path string, img []byte) {
	t.Helper()
	src := writeRaw(t, img)
	size := int64(len(img))
	switch format {
	case FormatRaw:
		if got := virtualSize(t, "-f", "raw", path); got != size {
			t.Fatalf("raw virtual size %d, want %d", got, size)
		}
		if out := runQemu(t, "compare", "-f", "raw", "-F", "raw", path, src); !strings.Contains(out, "Images are identical.") {
			t.Fatalf("qemu-img compare: %s", out)
		}
	case FormatVHD:
		opts := "driver=vpc,force_size_calc=current_size,file.filename=" + path
		aligned := (size + 1<<20 - 1) / (1 << 20) * (1 << 20)
		if got := virtualSize(t, "--image-opts", opts); got != aligned {
			t.Fatalf("vhd virtual size %d, want %d", got, aligned)
		}
		// The aligned tail beyond the source's size must read as zeros: compare (not strict)
		// requires that of the larger image.
		if out := runQemu(t, "compare", "--image-opts", opts, "driver=raw,file.filename="+src); !strings.Contains(out, "Images are identical.") {
			t.Fatalf("qemu-img compare: %s", out)
		}
	case FormatQcow2:
		out := runQemu(t, "check", "-f", "qcow2", "--output=json", path)
		var chk struct {
			CheckErrors int `json:"check-errors"`
			Leaks       int `json:"leaks"`
			Corruptions int `json:"corruptions"`
		}
		if err := json.Unmarshal([]byte(out), &chk); err != nil {
			t.Fatalf("qemu-img check: %v\n%s", err, out)
		}
		if chk.CheckErrors != 0 || chk.Leaks != 0 || chk.Corruptions != 0 {
			t.Fatalf("qemu-img check: %s", out)
		}
		if got := virtualSize(t, "-f", "qcow2", path); got != size {
			t.Fatalf("qcow2 virtual size %d, want %d", got, size)
		}
		if out := runQemu(t, "compare", "-f", "qcow2", "-F", "raw", path, src); !strings.Contains(out, "Images are identical.") {
			t.Fatalf("qemu-img compare: %s", out)
		}
	}
}
