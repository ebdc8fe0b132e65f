package store

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/opensiterecovery/osr/internal/directio"
)

// imageWriter writes block-aligned runs of a disk image. It writes through a second descriptor
// opened with O_DIRECT when the file system supports it, and falls back to ordinary writes
// otherwise (or for a tail shorter than a block).
type imageWriter struct {
	out      *os.File
	direct   *os.File
	noDirect atomic.Bool
}

func newImageWriter(out *os.File) *imageWriter {
	iw := &imageWriter{out: out}
	if fi, err := out.Stat(); err == nil && fi.Mode().IsRegular() {
		iw.direct = directio.OpenWriter(out.Name())
	}
	return iw
}

// write writes p at off; p must start at an address aligned to directAlign and off must be a
// multiple of it for the direct path to be used.
func (iw *imageWriter) write(p []byte, off int64) error {
	if iw.direct != nil && !iw.noDirect.Load() && off%directio.Align == 0 && directio.Aligned(p) {
		n := len(p) &^ (directio.Align - 1)
		if n > 0 {
			_, err := iw.direct.WriteAt(p[:n], off)
			if errors.Is(err, syscall.EINVAL) {
				iw.noDirect.Store(true) // the file system refuses direct I/O after all
			} else if err != nil {
				return fmt.Errorf("write image at %d: %w", off, err)
			} else {
				p, off = p[n:], off+int64(n)
			}
		}
	}
	if len(p) == 0 {
		return nil
	}
	if _, err := iw.out.WriteAt(p, off); err != nil {
		return fmt.Errorf("write image at %d: %w", off, err)
	}
	return nil
}

// close makes the image durable.
func (iw *imageWriter) close() error {
	var err error
	if iw.direct != nil {
		err = iw.direct.Sync()
		if cerr := iw.direct.Close(); err == nil {
			err = cerr
		}
	}
	if serr := iw.out.Sync(); err == nil {
		err = serr
	}
	return err
}
