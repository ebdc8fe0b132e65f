package local

import (
	"io"
	"os"
)

// Whence values of lseek(2) for sparse files (Linux, the BSDs, Solaris).
const (
	seekData = 3
	seekHole = 4
)

// dataBytes returns how many of f's first size bytes are allocated (not holes), or size when the
// system cannot tell.
func dataBytes(f *os.File, size int64) int64 {
	var n int64
	for off := int64(0); off < size; {
		d, err := f.Seek(off, seekData)
		if err != nil {
			if n == 0 && off == 0 && !isNoData(err) {
				return size // SEEK_DATA not supported
			}
			break // no data after off
		}
		if d >= size {
			break
		}
		h, err := f.Seek(d, seekHole)
		if err != nil {
			return size
		}
		h = min(h, size)
		n += h - d
		off = h
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return size
	}
	return n
}
