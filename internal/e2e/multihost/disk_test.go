//go:build linux

package multihost

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	blockSize  = 4096
	diskBytes  = 64 << 20 // the source disk
	liveBlocks = 2048     // the workload writes the first 8 MiB
	magic      = "OSRW"
)

// write is one acknowledged write of a block: version v of its content, durable (fdatasync) at done.
type write struct {
	v    uint64
	done time.Time
}

// disk is a source disk (an image file) and the log of every write the workload had acknowledged.
type disk struct {
	path string
	seed uint64
	f    *os.File

	mu     sync.Mutex
	writes [liveBlocks][]write // by block, in version order
	next   uint64
	rng    *rand.Rand
}

// newDisk creates the image with version 0 of every live block.
func newDisk(t *testing.T, path string, seed uint64) *disk {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(diskBytes); err != nil {
		t.Fatal(err)
	}
	d := &disk{path: path, seed: seed, f: f, next: 1, rng: rand.New(rand.NewPCG(seed, 0x6d756c7469))}
	buf := make([]byte, blockSize)
	for b := range liveBlocks {
		content(buf, seed, uint32(b), 0)
		if _, err := f.WriteAt(buf, int64(b)*blockSize); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Round(0)
	for b := range liveBlocks {
		d.writes[b] = []write{{0, now}}
	}
	return d
}

// content fills buf with version v of block b: a header naming them, then bytes derived from them.
func content(buf []byte, seed uint64, b uint32, v uint64) {
	copy(buf, magic)
	binary.LittleEndian.PutUint32(buf[4:], b)
	binary.LittleEndian.PutUint64(buf[8:], v)
	r := rand.New(rand.NewPCG(seed^uint64(b)<<32, v))
	for i := 16; i < len(buf); i += 8 {
		binary.LittleEndian.PutUint64(buf[i:], r.Uint64())
	}
}

// writeOne writes a new version of a random block and records it once durable.
func (d *disk) writeOne() error {
	d.mu.Lock()
	b := uint32(d.rng.IntN(liveBlocks))
	v := d.next
	d.next++
	d.mu.Unlock()
	buf := make([]byte, blockSize)
	content(buf, d.seed, b, v)
	if _, err := d.f.WriteAt(buf, int64(b)*blockSize); err != nil {
		return err
	}
	if err := unix.Fdatasync(int(d.f.Fd())); err != nil {
		return err
	}
	done := time.Now().Round(0)
	d.mu.Lock()
	d.writes[b] = append(d.writes[b], write{v, done})
	d.mu.Unlock()
	return nil
}

// run writes every interval until stop is closed.
func (d *disk) run(stop <-chan struct{}, interval time.Duration, errs chan<- error) {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
			if err := d.writeOne(); err != nil {
				errs <- err
				return
			}
		}
	}
}

// check verifies an exported image of a point captured at at: every block holds a version the
// workload wrote, and never one older than the newest acknowledged before at. Writes acknowledged
// later may or may not be in it. It returns the number of blocks that held a write acknowledged
// before at and found it (or a newer one), and an error naming the first lost write.
func (d *disk) check(image []byte, at time.Time) (int, error) {
	if len(image) < liveBlocks*blockSize {
		return 0, fmt.Errorf("image is %d bytes, want at least %d", len(image), liveBlocks*blockSize)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	want := make([]byte, blockSize)
	n := 0
	for b := range liveBlocks {
		blk := image[b*blockSize : (b+1)*blockSize]
		if string(blk[:4]) != magic || binary.LittleEndian.Uint32(blk[4:]) != uint32(b) {
			return n, fmt.Errorf("block %d holds no write of the workload (header %x)", b, blk[:16])
		}
		v := binary.LittleEndian.Uint64(blk[8:])
		content(want, d.seed, uint32(b), v)
		if !bytes.Equal(blk, want) {
			return n, fmt.Errorf("block %d: version %d is corrupt", b, v)
		}
		var acked uint64 // the newest version acknowledged before at
		for _, w := range d.writes[b] {
			if w.done.Before(at) {
				acked = w.v
			}
		}
		if v < acked {
			return n, fmt.Errorf("block %d: the point holds version %d, but version %d was acknowledged before the point's instant %s: an acknowledged write was lost", b, v, acked, at.Format(time.RFC3339Nano))
		}
		n++
	}
	return n, nil
}

// bytesWritten is how many block writes the workload acknowledged.
func (d *disk) bytesWritten() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return int64(d.next-1) * blockSize
}
