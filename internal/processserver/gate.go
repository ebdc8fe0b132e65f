package processserver

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/wire"
)

// Thresholds, in one place. The control plane reads the same numbers from /health.
const (
	// CacheCriticalFreePercent: below it the server stops reading from agents.
	CacheCriticalFreePercent = 25.0
	// CacheWarningFreePercent: below it /health warns.
	CacheWarningFreePercent = 30.0
	// DrainWarning and DrainCritical bound the projected time to upload the backlog.
	DrainWarning  = 30 * time.Minute
	DrainCritical = 45 * time.Minute
	// cacheFloorFreePercent: below it even the point that would free space is held back.
	cacheFloorFreePercent = 5.0
	// gatePoll is how often the gate re-measures while closed or idle.
	gatePoll = 250 * time.Millisecond
)

// gate stops every session from reading while the cache is too full, uploads back up or storage
// is unreachable.
type gate struct {
	s      *Server
	mu     sync.Mutex
	reason string // "" when open
	msg    string
	open   chan struct{} // closed while the gate is open
	gen    uint64        // counts closings
	kick   chan struct{}
}

func newGate(s *Server) *gate {
	g := &gate{s: s, open: make(chan struct{}), kick: make(chan struct{}, 1)}
	close(g.open)
	return g
}

// recheck asks the monitor to measure now.
func (g *gate) recheck() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// monitor re-evaluates the gate until ctx ends.
func (g *gate) monitor(ctx context.Context) {
	t := time.NewTicker(gatePoll)
	defer t.Stop()
	for {
		g.evaluate()
		g.s.sampleRates()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-g.kick:
		}
	}
}

func (g *gate) evaluate() {
	s := g.s
	reason, msg := "", ""
	free, err := s.cache.freePercent()
	backlog := s.backlogBytes()
	switch {
	case err != nil:
		reason, msg = wire.StatusCacheFull, err.Error()
	case free < CacheCriticalFreePercent:
		reason, msg = wire.StatusCacheFull, fmt.Sprintf("cache %.1f%% free (reading stops below %.0f%%)", free, CacheCriticalFreePercent)
	case s.cfg.Cache.BacklogBytes > 0 && backlog > s.cfg.Cache.BacklogBytes:
		reason, msg = wire.StatusBacklog, fmt.Sprintf("%d bytes wait for upload (limit %d)", backlog, s.cfg.Cache.BacklogBytes)
	case s.storageDown() && backlog > 0:
		reason, msg = wire.StatusStorageDown, "vault storage unreachable: "+s.lastErrText()
	}
	g.mu.Lock()
	was := g.reason
	g.reason, g.msg = reason, msg
	switch {
	case was == "" && reason != "":
		g.open = make(chan struct{})
		g.gen++
		s.log.Warn("stopped reading from agents", "reason", reason, "detail", msg)
	case was != "" && reason == "":
		close(g.open)
		s.log.Info("reading from agents again")
	}
	g.mu.Unlock()
	if was != reason {
		// Tell every connected agent, also those not reading right now.
		for _, m := range s.machineList() {
			m.mu.Lock()
			ss := m.sess
			m.mu.Unlock()
			if ss != nil {
				g.notify(ss)
			}
		}
	}
}

// notify sends a session the gate's state unless it already knows it.
func (g *gate) notify(ss *session) {
	g.mu.Lock()
	reason, msg, gen := g.reason, g.msg, g.gen
	if reason == "" {
		gen = 0 // open
	}
	if ss.gateGen == gen {
		g.mu.Unlock()
		return
	}
	ss.gateGen = gen
	g.mu.Unlock()
	if reason == "" {
		reason = wire.StatusOK
	}
	free, _ := g.s.cache.freePercent()
	ss.post(wire.Status{Reason: reason, Message: msg, CacheFreePercent: free, BacklogBytes: g.s.backlogBytes()})
}

// pass returns at once while the gate is open. Otherwise it tells the agent why it waits, waits
// for the gate to open, and tells the agent it reads again.
func (g *gate) pass(ctx context.Context, ss *session) error {
	if ss.open == nil {
		g.evaluate() // a new point is about to start: measure now, not at the next tick
	}
	g.mu.Lock()
	open, reason, msg := g.open, g.reason, g.msg
	g.mu.Unlock()
	if reason == "" || g.mayFinish(ss) {
		return nil
	}
	g.notify(ss)
	for waiting := true; waiting; {
		select {
		case <-open:
			waiting = false
		case <-ctx.Done():
			return ctx.Err()
		case <-ss.closing:
			return fmt.Errorf("connection closed while waiting: %s", msg)
		case <-time.After(gatePoll):
			waiting = !g.mayFinish(ss)
		}
	}
	g.notify(ss)
	return nil
}

// mayFinish lets a session go on with its open point while the gate is closed when that point is
// the next its machine commits: committing it is what frees the cache, so holding it back could
// hold everything back for ever. Below the floor nothing passes.
func (g *gate) mayFinish(ss *session) bool {
	q := ss.open
	if q == nil {
		return false
	}
	if free, err := g.s.cache.freePercent(); err != nil || free < cacheFloorFreePercent {
		return false
	}
	ss.m.mu.Lock()
	defer ss.m.mu.Unlock()
	return len(ss.m.queue) > 0 && ss.m.queue[0] == q
}

// state returns the gate's reason ("" when open) and message.
func (g *gate) state() (string, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reason, g.msg
}
