//go:build !linux

package source

// Ranges calls fn for consecutive ranges covering the disk, each either data (may hold non-zero
// bytes) or a hole (reads as zeros). Without SEEK_DATA/SEEK_HOLE (Windows) the whole disk is one
// data range: holes are read, and their zeros sent as zero blocks.
func (d *Disk) Ranges(fn func(off, length int64, data bool) error) error {
	if d.size <= 0 {
		return nil
	}
	return fn(0, d.size, true)
}
