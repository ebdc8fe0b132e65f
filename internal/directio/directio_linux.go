package directio

import (
	"os"
	"syscall"
)

// OpenWriter opens path for writing with O_DIRECT, or returns nil where that is not possible.
func OpenWriter(path string) *os.File {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return nil
	}
	return f
}

// OpenFile is os.OpenFile with O_DIRECT added to flag. Where direct I/O is not available (another
// operating system) it opens nothing and returns an error wrapping ErrUnsupported.
func OpenFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag|syscall.O_DIRECT, perm)
}
