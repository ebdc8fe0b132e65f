package processserver

import (
	"context"
	"fmt"
	"strconv"
)

// catchUp reloads the machine's committed points from the store when its agent knows a newer one
// than this server does: another process server committed them while the machine replicated
// there (a switch, a balance, an automatic move), and the Welcome must not send the agent back to
// an older point. A machine this server saw last only a moment ago costs nothing.
func (m *machine) catchUp(ctx context.Context, agentSeq uint64) error {
	m.mu.Lock()
	stale := agentSeq > m.newest
	m.mu.Unlock()
	if !stale {
		return nil
	}
	pts, err := m.s.repo.Points(ctx, m.name)
	if err != nil {
		return fmt.Errorf("list points of %s: %w", m.name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range pts {
		seq, err := strconv.ParseUint(p.Labels[SeqLabel], 10, 64)
		if err != nil || seq == 0 {
			continue
		}
		if _, ok := m.committed[seq]; !ok {
			m.committed[seq] = p.ID
		}
		m.newest = max(m.newest, seq)
	}
	return nil
}

// cacheSpace is the cache's size and free bytes as its free share counts them (freeShare): the
// budget and what it may still take, or the file system's when the cache owns it.
func (c *cache) cacheSpace() (size, free int64, err error) {
	avail, total, err := diskSpace(c.dir)
	if err != nil {
		return 0, 0, err
	}
	size = c.maxBytes
	if size <= 0 || uint64(size) > total {
		size = int64(min(total, 1<<62))
	}
	if c.maxBytes <= 0 || uint64(c.maxBytes) > total {
		return size, int64(min(avail, 1<<62)), nil
	}
	free = min(max(size-c.used.Load(), 0), int64(min(avail, 1<<62)))
	return size, free, nil
}
