package mobility

import (
	"errors"
	"fmt"
	"os"

	"github.com/opensiterecovery/osr/internal/directio"
	"github.com/opensiterecovery/osr/internal/source"
)

// sourceDisk is a protected disk opened for reading: its data ranges come from internal/source;
// a block device is read with O_DIRECT so that the page cache cannot serve stale data.
type sourceDisk struct {
	name, path string
	*source.Disk
	direct *os.File // O_DIRECT handle of a block device, or nil
}

func openSource(name, path string) (*sourceDisk, error) {
	d, err := source.Open(path)
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", name, err)
	}
	sd := &sourceDisk{name: name, path: path, Disk: d}
	fi, err := os.Stat(path)
	if err == nil && fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0 {
		f, err := directio.OpenFile(path, os.O_RDONLY, 0)
		switch {
		case errors.Is(err, directio.ErrUnsupported): // no O_DIRECT on this system: ordinary reads
		case err != nil:
			d.Close()
			return nil, fmt.Errorf("disk %s: open with O_DIRECT: %w", name, err)
		default:
			sd.direct = f
		}
	}
	if d.Size() <= 0 {
		sd.Close()
		return nil, fmt.Errorf("disk %s: %s is empty", name, path)
	}
	return sd, nil
}

// ReadAt reads from the O_DIRECT handle where there is one (p must then be aligned).
func (d *sourceDisk) ReadAt(p []byte, off int64) (int, error) {
	if d.direct != nil {
		return d.direct.ReadAt(p, off)
	}
	return d.Disk.ReadAt(p, off)
}

func (d *sourceDisk) Close() error {
	if d.direct != nil {
		d.direct.Close()
	}
	return d.Disk.Close()
}
