//go:build !linux

package source

import (
	"errors"
	"fmt"
	"io"
)

// Without Linux's madvise controls the disk is read with ReadAt (pread) everywhere: mapFile maps
// nothing, and chunk fills the caller's buffer.

func (d *Disk) mapFile() {}

func (d *Disk) unmap() {}

// chunk returns the disk's bytes at off, len(buf) of them, read into buf.
func (d *Disk) chunk(buf []byte, off int64) ([]byte, error) {
	if _, err := d.f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s at %d: %w", d.path, off, err)
	}
	return buf, nil
}

func (d *Disk) release(p []byte) {}
