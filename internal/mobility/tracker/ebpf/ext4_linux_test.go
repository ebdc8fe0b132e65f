package ebpf

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/opensiterecovery/osr/internal/directio"
	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// TestExt4EveryChangedBlockTracked runs a filesystem workload on a mounted ext4 and compares
// images of the device taken under a freeze before and after: every block that differs is
// reported.
func TestExt4EveryChangedBlockTracked(t *testing.T) {
	const size = 128 << 20
	for _, tool := range []string{"mkfs.ext4", "mount", "fsfreeze"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: apt-get install e2fsprogs mount util-linux", tool)
		}
	}
	dev := loopDevice(t, size, nil)
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("mkfs.ext4", "-q", "-F", dev)
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mnt, 0o755)
	run("mount", dev, mnt)
	t.Cleanup(func() {
		exec.Command("fsfreeze", "--unfreeze", mnt).Run()
		exec.Command("umount", mnt).Run()
	})
	tr := started(t, tracker.Disk{Name: "d", Path: dev, Size: size})
	image := func() []byte {
		t.Helper()
		run("fsfreeze", "--freeze", mnt)
		defer run("fsfreeze", "--unfreeze", mnt)
		f, err := os.OpenFile(dev, os.O_RDONLY|unix.O_DIRECT, 0) // not the device's page cache
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := directio.AlignedBuffer(size)
		if _, err := f.ReadAt(b, 0); err != nil {
			t.Fatal(err)
		}
		return b
	}
	rng := rand.New(rand.NewPCG(1, 2))
	write := func(name string, n int) {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(filepath.Join(mnt, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		write(fmt.Sprintf("base%d", i), 1<<20)
	}
	for round := range 3 {
		before := image()
		changes(t, tr, "d") // the tracker's set starts at this image (taken while frozen)
		for i := range 40 {
			switch i % 4 {
			case 0:
				write(fmt.Sprintf("r%d-%d", round, i), rng.IntN(3<<20)+1)
			case 1: // rewrite part of a file in place, fsync
				f, err := os.OpenFile(filepath.Join(mnt, fmt.Sprintf("base%d", rng.IntN(20))), os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteAt(bytes.Repeat([]byte{byte(i)}, 10000), int64(rng.IntN(1<<20)))
				f.Sync()
				f.Close()
			case 2:
				os.Remove(filepath.Join(mnt, fmt.Sprintf("r%d-%d", round-1, i-2))) // written in the previous round
			case 3:
				os.Mkdir(filepath.Join(mnt, fmt.Sprintf("dir%d-%d", round, i)), 0o755)
			}
		}
		run("fstrim", mnt) // discards of the freed blocks
		after := image()
		got := changes(t, tr, "d")
		var differ, missed int64
		var first []string
		for b := int64(0); b < size/tracker.BlockSize; b++ {
			o := b * tracker.BlockSize
			if bytes.Equal(before[o:o+tracker.BlockSize], after[o:o+tracker.BlockSize]) {
				continue
			}
			differ++
			if !got.Has(b) {
				missed++
				if len(first) < 5 {
					first = append(first, fmt.Sprint(b))
				}
			}
		}
		t.Logf("round %d: %d blocks differ, %d reported", round, differ, got.Count())
		if differ == 0 || missed != 0 {
			t.Fatalf("round %d: %d blocks differ, %d of them not reported (first: %s)", round, differ, missed, strings.Join(first, ","))
		}
	}
	if s := tr.Stats(); s != (tracker.Stats{}) {
		t.Fatalf("stats %+v, want none lost", s)
	}
}
