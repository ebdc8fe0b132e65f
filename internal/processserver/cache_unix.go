//go:build unix

package processserver

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// diskSpace returns the bytes available to this process and the size of the cache's file system.
func diskSpace(dir string) (avail, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}
