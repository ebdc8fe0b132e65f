//go:build unix

package capacity

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// usedBytes sums the data ranges SEEK_DATA/SEEK_HOLE find; where the file system or device does
// not tell (or says everything is data, as a block device does), the size.
func usedBytes(f *os.File, size int64) (int64, string) {
	fd := int(f.Fd())
	var used, off int64
	for off < size {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break
		}
		if err != nil {
			return size, "size"
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return size, "size"
		}
		used += min(hole, size) - data
		off = hole
	}
	return used, "seek_data"
}
