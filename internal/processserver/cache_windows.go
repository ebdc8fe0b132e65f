package processserver

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// diskSpace returns the bytes available to this user (GetDiskFreeSpaceEx) and the volume's size.
func diskSpace(dir string) (avail, total uint64, err error) {
	name, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("free space of %s: %w", dir, err)
	}
	var free uint64
	if err := windows.GetDiskFreeSpaceEx(name, &avail, &total, &free); err != nil {
		return 0, 0, fmt.Errorf("free space of %s: %w", dir, err)
	}
	return avail, total, nil
}
