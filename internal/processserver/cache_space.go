package processserver

// freePercent is the free share of the cache, which the health thresholds (warning under 30%,
// critical under 25%) and backpressure judge.
func (c *cache) freePercent() (float64, error) {
	avail, total, err := diskSpace(c.dir)
	if err != nil {
		return 0, err
	}
	return freeShare(avail, total, c.maxBytes, c.used.Load()), nil
}

// freeShare computes the free share of a cache. Without a budget (maxBytes 0) the cache owns its
// file system, as on a dedicated cache drive: the share is the file system's free share. With a
// budget, the share is what the cache may still take — the budget less what it holds, and never
// more than the file system has left — out of the budget: a 50 GiB cache on a large disk that is
// 70% full for other reasons is still empty, while one whose disk fills up runs out. A budget
// larger than the file system is the file system.
func freeShare(avail, total uint64, maxBytes, used int64) float64 {
	if total > 0 && uint64(maxBytes) > total {
		maxBytes = int64(total)
	}
	if maxBytes <= 0 {
		if total == 0 {
			return 100
		}
		return 100 * float64(avail) / float64(total)
	}
	left := max(maxBytes-used, 0)
	left = min(left, int64(min(avail, uint64(1<<62))))
	return 100 * float64(left) / float64(maxBytes)
}
