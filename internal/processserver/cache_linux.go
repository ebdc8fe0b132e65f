package processserver

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// freePercent is the free share of the cache: of its file system, and of max_bytes when set.
func (c *cache) freePercent() (float64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(c.dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", c.dir, err)
	}
	total := float64(st.Blocks) * float64(st.Bsize)
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(st.Bavail) * float64(st.Bsize) / total
	}
	if c.maxBytes > 0 {
		p := 100 * float64(c.maxBytes-c.used.Load()) / float64(c.maxBytes)
		pct = min(pct, max(p, 0))
	}
	return pct, nil
}
