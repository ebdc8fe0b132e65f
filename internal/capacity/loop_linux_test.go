//go:build linux

package capacity

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/opensiterecovery/osr/internal/directio"
	"github.com/opensiterecovery/osr/internal/mobility/tracker"
	"github.com/opensiterecovery/osr/internal/mobility/tracker/ebpf"
)

// TestProfilerLoopDevice profiles a loop device with the ebpf tracker and with the scan tracker
// while a writer changes a known number of distinct blocks per interval with direct I/O: each sample
// is exactly what was written.
func TestProfilerLoopDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (loop devices and the BPF program)")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Fatal("losetup is missing: apt-get install mount")
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	const size = 32 << 20
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })

	w, err := directio.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	buf := directio.AlignedBuffer(BlockSize)
	write := func(distinct int) {
		seen := map[int64]bool{}
		for len(seen) < distinct {
			i := rng.Int64N(size / BlockSize)
			for j := range buf {
				buf[j] = byte(rng.Uint32())
			}
			if _, err := w.WriteAt(buf, i*BlockSize); err != nil {
				t.Fatal(err)
			}
			seen[i] = true
		}
	}
	trackers := map[string]func() tracker.Tracker{
		"scan": func() tracker.Tracker { return tracker.NewScan() },
		"ebpf": func() tracker.Tracker {
			if err := ebpf.Probe(); err != nil {
				t.Fatalf("the ebpf tracker does not load here: %v", err)
			}
			tr, err := ebpf.NewTracker(ebpf.Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			return tr
		},
	}
	for _, name := range []string{"ebpf", "scan"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			p, err := NewProfiler(ctx, ProfilerConfig{Machine: "m", Disks: []Disk{{Name: "sda", Path: dev}}, Tracker: trackers[name]()})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			for _, n := range []int{5, 0, 1000, 1} {
				write(n)
				if err := unix.Fsync(int(w.Fd())); err != nil {
					t.Fatal(err)
				}
				got, err := p.Sample(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if got[0] != int64(n)*BlockSize {
					t.Fatalf("after %d distinct blocks: %d bytes, want %d", n, got[0], n*BlockSize)
				}
			}
			// The ebpf tracker's dirty bitmaps narrow the reads to the 1 MiB chunks holding written
			// blocks (5 + 0 + all 32 + 1 at most); the scan tracker reads the disk at each sample.
			if rd := p.ReadBytes(); (name == "ebpf" && rd > 38<<20) || (name == "scan" && rd != 4*size) {
				t.Fatalf("samples read %d bytes", rd)
			}
			pr := p.Profile(0)
			if pr.Tracker != name || pr.Disks[0].SizeBytes != size {
				t.Fatalf("profile %+v", pr)
			}
		})
	}
}
