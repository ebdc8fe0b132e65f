package source

import (
	"errors"
	"fmt"
	"io"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Regular files are read through a read-only shared mapping while CopyTo runs: the data goes from
// the page cache to the hashing and compression without a copy. Block devices and anything that
// cannot be mapped are read with pread.

func (d *Disk) mapFile() {
	if d.size == 0 || d.size > 1<<46 {
		return
	}
	fi, err := d.f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	mem, err := unix.Mmap(int(d.f.Fd()), 0, int(d.size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return
	}
	_ = unix.Madvise(mem, unix.MADV_SEQUENTIAL)
	d.mem = mem
}

func (d *Disk) unmap() {
	if d.mem != nil {
		_ = unix.Munmap(d.mem)
		d.mem = nil
	}
}

// chunk returns the disk's bytes at off, len(buf) of them: a slice of the mapping, or buf filled
// by pread.
func (d *Disk) chunk(buf []byte, off int64) ([]byte, error) {
	if d.mem != nil {
		p := d.mem[off : off+int64(len(buf))]
		// One call maps the chunk's pages instead of a page fault every few pages (Linux 5.14+;
		// where it fails, faults do the same work).
		if start := off &^ int64(pageSize-1); start < int64(len(d.mem)) {
			_ = unix.Madvise(d.mem[start:off+int64(len(buf))], unix.MADV_POPULATE_READ)
		}
		return p, nil
	}
	if _, err := d.f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s at %d: %w", d.path, off, err)
	}
	return buf, nil
}

// release drops a mapped chunk from this process's page tables once it is consumed, so that the
// mapping does not count the whole disk as resident memory. The page cache keeps the data.
func (d *Disk) release(p []byte) {
	if d.mem == nil || len(p) == 0 {
		return
	}
	off := uintptr(unsafe.Pointer(&p[0])) - uintptr(unsafe.Pointer(&d.mem[0]))
	start := off &^ uintptr(pageSize-1)
	end := min(uintptr(len(d.mem)), (off+uintptr(len(p))+uintptr(pageSize-1))&^uintptr(pageSize-1))
	_ = unix.Madvise(d.mem[start:end], unix.MADV_DONTNEED)
}

var pageSize = unix.Getpagesize()
