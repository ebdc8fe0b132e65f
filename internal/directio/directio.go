// Package directio writes large files without passing them through the page cache (O_DIRECT),
// where the file system allows it. On this project's machines a buffered write of a large file
// costs several times more CPU than the data it moves; direct writes cost almost none. Direct I/O
// is a Linux feature here: on other systems (Windows) OpenWriter and OpenFile report it unavailable
// and callers fall back to ordinary I/O.
package directio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"unsafe"
)

// Align is the alignment of buffers, offsets and lengths for direct I/O.
const Align = 4096

// AlignedBuffer returns n bytes starting at an address aligned to Align.
func AlignedBuffer(n int) []byte {
	b := make([]byte, n+Align)
	off := int((Align - uintptr(unsafe.Pointer(&b[0]))%Align) % Align)
	return b[off : off+n : off+n]
}

// Aligned reports whether p starts at an aligned address.
func Aligned(p []byte) bool {
	return len(p) > 0 && uintptr(unsafe.Pointer(&p[0]))%Align == 0
}

// ErrUnsupported is returned by Copy when the file system refuses direct I/O; nothing was written.
var ErrUnsupported = errors.New("direct i/o not supported")

// Copy writes size bytes of body to the start of the file at path (which must exist, empty) with
// direct I/O, then cuts the file to size (the last block is padded for the write). The caller still
// fsyncs the file.
func Copy(ctx context.Context, path string, body io.ReaderAt, size int64, chunk int) error {
	f := OpenWriter(path)
	if f == nil {
		return ErrUnsupported
	}
	defer f.Close()
	chunk = max(Align, chunk&^(Align-1))
	buf := AlignedBuffer(chunk)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(int64(chunk), size-off)
		got, err := body.ReadAt(buf[:n], off)
		if int64(got) < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read body at %d: %w", off, err)
		}
		w := (n + Align - 1) &^ (Align - 1)
		clear(buf[n:w])
		if _, err := f.WriteAt(buf[:w], off); err != nil {
			if off == 0 && errors.Is(err, syscall.EINVAL) {
				return ErrUnsupported
			}
			return err
		}
		off += n
	}
	return f.Truncate(size)
}
