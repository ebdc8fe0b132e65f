//go:build unix

package prereq

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// statfsFree measures the file system of path, or of its nearest existing parent (the cache
// directory may not exist yet).
func statfsFree(path string) (uint64, error) {
	p := filepath.Clean(path)
	for {
		var st unix.Statfs_t
		err := unix.Statfs(p, &st)
		if err == nil {
			return st.Bavail * uint64(st.Bsize), nil
		}
		if !errors.Is(err, unix.ENOENT) || p == "/" || p == "." {
			return 0, &os.PathError{Op: "statfs", Path: p, Err: err}
		}
		p = filepath.Dir(p)
	}
}
