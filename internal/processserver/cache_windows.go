package processserver

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// freePercent is the free share of the cache: of its volume (GetDiskFreeSpaceEx, the bytes
// available to this user), and of max_bytes when set.
func (c *cache) freePercent() (float64, error) {
	name, err := windows.UTF16PtrFromString(c.dir)
	if err != nil {
		return 0, fmt.Errorf("free space of %s: %w", c.dir, err)
	}
	var avail, total, free uint64
	if err := windows.GetDiskFreeSpaceEx(name, &avail, &total, &free); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", c.dir, err)
	}
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(avail) / float64(total)
	}
	if c.maxBytes > 0 {
		p := 100 * float64(c.maxBytes-c.used.Load()) / float64(c.maxBytes)
		pct = min(pct, max(p, 0))
	}
	return pct, nil
}
