package ebpf

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/opensiterecovery/osr/internal/directio"
	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// mbr returns a partition table with the given (start, sectors) primary partitions.
func mbr(parts ...[2]uint32) []byte {
	b := make([]byte, 512)
	for i, p := range parts {
		e := b[446+16*i:]
		e[4] = 0x83
		binary.LittleEndian.PutUint32(e[8:], p[0])
		binary.LittleEndian.PutUint32(e[12:], p[1])
	}
	b[510], b[511] = 0x55, 0xaa
	return b
}

// partNode waits for partition i of a loop device to appear in sysfs and makes its device node
// (there may be no udev to make it).
func partNode(t *testing.T, dev string, i int) string {
	t.Helper()
	name := filepath.Base(dev) + "p" + strconv.Itoa(i)
	for range 100 {
		b, err := os.ReadFile(filepath.Join("/sys/class/block", name, "dev"))
		if err == nil {
			var ma, mi uint32
			if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d:%d", &ma, &mi); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), name)
			if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(unix.Mkdev(ma, mi))); err != nil {
				t.Fatal(err)
			}
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("partition %s did not appear", name)
	return ""
}

// TestPartitions checks that writes to a partition, which the kernel reports on the whole disk
// with an absolute sector, are reported at the partition's own blocks, for a partition that
// starts on a block boundary and one that does not.
func TestPartitions(t *testing.T) {
	const aligned, unaligned = 32768, 2049 // start sectors
	const sectors = 16384                  // 8 MiB each
	dev := loopDevice(t, 64<<20, mbr([2]uint32{unaligned, sectors}, [2]uint32{aligned, sectors}))
	// The kernel may have no partition table parser: partx adds the partitions (BLKPG).
	if out, err := exec.Command("partx", "-a", dev).CombinedOutput(); err != nil && !strings.Contains(string(out), "busy") {
		t.Fatalf("partx -a %s (apt-get install util-linux): %v: %s", dev, err, out)
	}
	p1, p2 := partNode(t, dev, 1), partNode(t, dev, 2)
	tr := started(t,
		tracker.Disk{Name: "p1", Path: p1, Size: sectors * 512},
		tracker.Disk{Name: "p2", Path: p2, Size: sectors * 512},
		tracker.Disk{Name: "whole", Path: dev, Size: 64 << 20})
	for _, n := range []string{"p1", "p2", "whole"} {
		changes(t, tr, n)
	}
	buf := directio.AlignedBuffer(8192)
	for i := range buf {
		buf[i] = 0xa5
	}
	cases := []struct {
		part      string
		path      string
		start     int64
		off, n    int64
		wantBlock []int64 // blocks of the partition that must be reported
		maxBlocks int64
	}{
		{"p2", p2, aligned, 5 * 4096, 4096, []int64{5}, 1},
		{"p1", p1, unaligned, 7 * 4096, 4096, []int64{7}, 3}, // each of the two disk blocks straddles two partition blocks
		{"p1", p1, unaligned, 0, 512, []int64{0}, 1},
		{"p1", p1, unaligned, sectors*512 - 4096, 4096, []int64{sectors/8 - 1}, 2},
	}
	for _, c := range cases {
		f, err := os.OpenFile(c.path, os.O_RDWR|unix.O_DIRECT, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteAt(buf[:c.n], c.off)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		got := changes(t, tr, c.part)
		for _, b := range c.wantBlock {
			if !got.Has(b) {
				t.Fatalf("%s: write at %d not reported at block %d (%d reported, first %d)", c.part, c.off, b, got.Count(), got.Next(0))
			}
		}
		if got.Count() > c.maxBlocks {
			t.Fatalf("%s: %d blocks reported for one write", c.part, got.Count())
		}
		other := map[string]string{"p1": "p2", "p2": "p1"}[c.part]
		if n := changes(t, tr, other).Count(); n != 0 {
			t.Fatalf("%s: write to %s reported %d blocks on %s", c.part, c.part, n, other)
		}
		// The whole disk sees the write at its absolute position.
		w := changes(t, tr, "whole")
		abs := (c.start*512 + c.off) / 4096
		if !w.Has(abs) {
			t.Fatalf("%s: whole disk: block %d not reported", c.part, abs)
		}
	}
}
