package ebpf

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// loopDevice attaches a sparse file of size bytes to a loop device (with partition scanning).
func loopDevice(t testing.TB, size int64, mbr []byte) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (loop devices and the BPF program)")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Fatal("losetup is missing: apt-get install mount")
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if mbr != nil {
		if _, err := f.WriteAt(mbr, 0); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	out, err := exec.Command("losetup", "--find", "--show", "--partscan", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev
}

// started returns a started tracker for the named disks.
func started(t *testing.T, disks ...tracker.Disk) *Tracker {
	t.Helper()
	tr, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(context.Background(), disks, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// changes returns the dirty bitmap of a disk, failing on a gap.
func changes(t *testing.T, tr *Tracker, name string) *tracker.Bitmap {
	t.Helper()
	c, err := tr.Changes(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if c.Gap != "" || c.All || c.Dirty == nil {
		t.Fatalf("changes of %s: gap %q all %v", name, c.Gap, c.All)
	}
	return c.Dirty
}

// blocksOf lists the blocks of [off, off+n).
func blocksOf(off, n int64) []int64 {
	var out []int64
	for b := off / tracker.BlockSize; b <= (off+n-1)/tracker.BlockSize; b++ {
		out = append(out, b)
	}
	return out
}
