package source

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Ranges calls fn for consecutive ranges covering the disk, each either data (may hold non-zero
// bytes) or a hole (reads as zeros). Where the file system cannot tell, the whole disk is data.
func (d *Disk) Ranges(fn func(off, length int64, data bool) error) error {
	fd := int(d.f.Fd())
	off := int64(0)
	for off < d.size {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) { // no data after off
			return fn(off, d.size-off, false)
		}
		if err != nil { // no SEEK_DATA support: all data
			return fn(off, d.size-off, true)
		}
		start = min(start, d.size)
		if start > off {
			if err := fn(off, start-off, false); err != nil {
				return err
			}
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			end = d.size
		}
		end = min(end, d.size)
		if end > start {
			if err := fn(start, end-start, true); err != nil {
				return err
			}
		}
		off = end
	}
	return nil
}
