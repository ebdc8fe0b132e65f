package ebpf

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/opensiterecovery/osr/internal/directio"
	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// Suspend leaves the program tracking; the next Start takes over exactly what was written
// meanwhile plus what the caller handed back, or, when the chain is broken, says why and removes
// the pins.
func TestSuspendResume(t *testing.T) {
	const size = 16 << 20
	dev := loopDevice(t, size, nil)
	dev2 := loopDevice(t, size, nil)
	d := tracker.Disk{Name: "d", Path: dev, Size: size}
	write := func(blocks ...int64) {
		f, err := os.OpenFile(dev, os.O_RDWR|unix.O_DIRECT, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		buf := directio.AlignedBuffer(4096)
		for _, b := range blocks {
			if _, err := f.WriteAt(buf, b*4096); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name    string
		unclean bool
		disks   []tracker.Disk
		why     string
		lost    bool // the meta says 1000 drops and misses at the stop
	}{
		{"clean", false, []tracker.Disk{d}, "", false},
		{"unclean stop", true, []tracker.Disk{d}, "the previous run stopped uncleanly", false},
		{"disks changed", false, []tracker.Disk{d, {Name: "e", Path: dev2, Size: size}}, "the protected disks changed since the pinned tracker was set up", false},
		{"losses while stopped", false, []tracker.Disk{d}, "the ebpf probe's drops and misses went from 1000 to 0 while the service was stopped", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(BPFFS, "osr", "test-"+filepath.Base(dev))
			t.Cleanup(func() { removePins(dir) })
			tr, err := New(Options{PinDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.Start(context.Background(), []tracker.Disk{d}, false); err != nil {
				t.Fatal(err)
			}
			if ok, why := tr.Resumed(); ok || why != "no pinned tracker from a previous run (first start, reboot or unclean stop)" {
				t.Fatalf("first start: resumed %v, %q", ok, why)
			}
			write(5)
			extra := tracker.NewBitmap(tracker.Blocks(size))
			extra.Set(9)
			if err := tr.Suspend(map[string]*tracker.Bitmap{"d": extra}); err != nil {
				t.Fatal(err)
			}
			write(100, 101, 4000)
			if tc.lost {
				m, err := ebpf.LoadPinnedMap(filepath.Join(dir, pinMeta), nil)
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, metaSize)
				if err := m.Lookup(uint32(0), &buf); err != nil {
					t.Fatal(err)
				}
				md, err := decodeMeta(buf)
				if err != nil {
					t.Fatal(err)
				}
				md.Lost = 1000
				js, _ := json.Marshal(md)
				clear(buf)
				copy(buf, js)
				if err := m.Put(uint32(0), buf); err != nil {
					t.Fatal(err)
				}
				m.Close()
			}
			tr2, err := New(Options{PinDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if err := tr2.Start(context.Background(), tc.disks, tc.unclean); err != nil {
				t.Fatal(err)
			}
			defer tr2.Close()
			if _, err := os.Stat(dir); err == nil {
				t.Fatal("pins left after a start")
			}
			ok, why := tr2.Resumed()
			if ok != (tc.why == "") || why != tc.why {
				t.Fatalf("resumed %v, %q; want %q", ok, why, tc.why)
			}
			if tc.lost {
				c, err := tr2.Changes(context.Background(), "d")
				if err != nil || c.Gap != tc.why {
					t.Fatalf("first changes after losses: gap %q, %v; want %q", c.Gap, err, tc.why)
				}
				return
			}
			got := changes(t, tr2, "d")
			var blocks []int64
			for i := got.Next(0); i >= 0; i = got.Next(i + 1) {
				blocks = append(blocks, i)
			}
			want := []int64{5, 9, 100, 101, 4000}
			if tc.why != "" {
				want = nil // a fresh program: nothing written since
			}
			if !slices.Equal(blocks, want) {
				t.Fatalf("first changes %v, want %v", blocks, want)
			}
		})
	}
}
