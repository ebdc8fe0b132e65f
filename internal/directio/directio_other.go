//go:build !linux

package directio

import (
	"fmt"
	"os"
	"runtime"
)

// OpenWriter returns nil: this operating system has no O_DIRECT, so callers write through the
// ordinary (cached) path.
func OpenWriter(path string) *os.File { return nil }

// OpenFile opens nothing and returns an error wrapping ErrUnsupported: this operating system has no
// O_DIRECT, so callers open the file the ordinary way.
func OpenFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	return nil, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w on %s", ErrUnsupported, runtime.GOOS)}
}
