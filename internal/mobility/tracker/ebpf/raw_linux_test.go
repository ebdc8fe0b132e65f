package ebpf

import (
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/opensiterecovery/osr/internal/directio"
	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

const rawSize = 64 << 20

// TestRawWrites writes to a loop device in every way that changes data and checks that each
// written block is reported, and that reads and empty flushes report nothing.
func TestRawWrites(t *testing.T) {
	dev := loopDevice(t, rawSize, nil)
	tr := started(t, tracker.Disk{Name: "d", Path: dev, Size: rawSize})
	direct, err := os.OpenFile(dev, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	buffered, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer buffered.Close()
	fill := func(n int64) []byte {
		b := directio.AlignedBuffer(int(max(n, 4096)))[:n]
		for i := range b {
			b[i] = byte(i*7 + 1)
		}
		return b
	}
	ioctlRange := func(req uint, off, n int64) error {
		r := [2]uint64{uint64(off), uint64(n)}
		_, _, e := unix.Syscall(unix.SYS_IOCTL, direct.Fd(), uintptr(req), uintptr(unsafe.Pointer(&r)))
		if e != 0 {
			return e
		}
		return nil
	}
	cases := []struct {
		name   string
		off, n int64
		do     func(off, n int64) error
	}{
		{"direct 512 B", 3*4096 + 512, 512, func(off, n int64) error { _, err := direct.WriteAt(fill(n), off); return err }},
		{"direct 4 KiB", 10 * 4096, 4096, func(off, n int64) error { _, err := direct.WriteAt(fill(n), off); return err }},
		{"direct 2 MiB unaligned to blocks", 5<<20 + 1024, 2 << 20, func(off, n int64) error { _, err := direct.WriteAt(fill(n), off); return err }},
		{"direct at the last block", rawSize - 4096, 4096, func(off, n int64) error { _, err := direct.WriteAt(fill(n), off); return err }},
		{"buffered 1 KiB + fsync", 20<<20 + 3072, 1024, func(off, n int64) error {
			if _, err := buffered.WriteAt(fill(n), off); err != nil {
				return err
			}
			return buffered.Sync()
		}},
		{"buffered 1 MiB + fdatasync", 30 << 20, 1 << 20, func(off, n int64) error {
			if _, err := buffered.WriteAt(fill(n), off); err != nil {
				return err
			}
			return unix.Fdatasync(int(buffered.Fd()))
		}},
		{"discard 1 MiB", 40 << 20, 1 << 20, func(off, n int64) error { return ioctlRange(unix.BLKDISCARD, off, n) }},
		{"write-zeroes 64 KiB", 44 << 20, 64 << 10, func(off, n int64) error { return ioctlRange(unix.BLKZEROOUT, off, n) }},
		{"punch hole 8 KiB", 46 << 20, 8 << 10, func(off, n int64) error {
			return unix.Fallocate(int(direct.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
		}},
		{"zero range 2 MiB", 48 << 20, 2 << 20, func(off, n int64) error {
			return unix.Fallocate(int(direct.Fd()), unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, off, n)
		}},
	}
	changes(t, tr, "d") // whatever the setup wrote
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.do(c.off, c.n); err != nil {
				t.Fatalf("write: %v", err)
			}
			got := changes(t, tr, "d")
			for _, b := range blocksOf(c.off, c.n) {
				if !got.Has(b) {
					t.Fatalf("block %d written and not reported (%d reported)", b, got.Count())
				}
			}
			if want := int64(len(blocksOf(c.off, c.n))); got.Count() > want+2 {
				t.Fatalf("%d blocks reported for %d written", got.Count(), want)
			}
		})
	}
	t.Run("reads and empty flushes report nothing", func(t *testing.T) {
		buf := directio.AlignedBuffer(1 << 20)
		if _, err := direct.ReadAt(buf, 7<<20); err != nil {
			t.Fatal(err)
		}
		if err := direct.Sync(); err != nil {
			t.Fatal(err)
		}
		if got := changes(t, tr, "d"); got.Count() != 0 {
			t.Fatalf("%d blocks reported after reads and a flush", got.Count())
		}
	})
	if s := tr.Stats(); s != (tracker.Stats{}) {
		t.Fatalf("stats %+v, want none lost", s)
	}
}

// TestWholeDiskDiscard discards the whole disk: a range longer than the program walks goes
// through the ring buffer and is reported whole.
func TestWholeDiskDiscard(t *testing.T) {
	const size = 1 << 30
	dev := loopDevice(t, size, nil)
	tr := started(t, tracker.Disk{Name: "d", Path: dev, Size: size})
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	changes(t, tr, "d")
	r := [2]uint64{0, size}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKDISCARD, uintptr(unsafe.Pointer(&r))); e != 0 {
		t.Fatal(e)
	}
	got := changes(t, tr, "d")
	if want := tracker.Blocks(size); got.Count() != want {
		t.Fatalf("%d blocks reported after discarding all %d", got.Count(), want)
	}
	if _, ranges := tr.Counts(); ranges == 0 {
		t.Fatal("no range went through the ring buffer")
	}
}

// A write is marked twice: when its bio is queued and when its request completes (so a write in
// flight while a point reads the block is in the next point).
func TestQueueAndCompletionMarks(t *testing.T) {
	dev := loopDevice(t, 8<<20, nil)
	tr := started(t, tracker.Disk{Name: "d", Path: dev, Size: 8 << 20})
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	changes(t, tr, "d")
	before, _ := tr.Counts()
	if _, err := f.WriteAt(directio.AlignedBuffer(4096), 4096*9); err != nil {
		t.Fatal(err)
	}
	after, _ := tr.Counts()
	if after-before != 2 {
		t.Fatalf("%d marks for one write, want 2 (queue and completion)", after-before)
	}
	if got := changes(t, tr, "d"); got.Count() != 1 || !got.Has(9) {
		t.Fatalf("%d blocks reported, want block 9", got.Count())
	}
}
