package prereq

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// statfsFree measures the volume of path, or of its nearest existing parent (the cache directory
// may not exist yet), with GetDiskFreeSpaceEx: the bytes available to this user.
func statfsFree(path string) (uint64, error) {
	p := filepath.Clean(path)
	for {
		var avail, total, free uint64
		name, err := windows.UTF16PtrFromString(p)
		if err != nil {
			return 0, &os.PathError{Op: "GetDiskFreeSpaceEx", Path: p, Err: err}
		}
		err = windows.GetDiskFreeSpaceEx(name, &avail, &total, &free)
		if err == nil {
			return avail, nil
		}
		parent := filepath.Dir(p)
		notFound := errors.Is(err, windows.ERROR_PATH_NOT_FOUND) || errors.Is(err, windows.ERROR_FILE_NOT_FOUND)
		if !notFound || parent == p || p == "." {
			return 0, &os.PathError{Op: "GetDiskFreeSpaceEx", Path: p, Err: err}
		}
		p = parent
	}
}
