package mobility

import (
	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// resumeTracking, right after the tracker started, lets the first point read only what the
// tracker names when it kept tracking while the service was stopped (the ebpf tracker's pins),
// the previous run stopped cleanly and its state is whole; otherwise the first point compares
// every block, and an event says why.
func (a *Agent) resumeTracking() {
	r, ok := a.tracker.(resumer)
	if !ok {
		return
	}
	resumed, why := r.Resumed()
	a.stMu.Lock()
	reason, initial := a.resyncReason, a.st.InitialDone
	a.stMu.Unlock()
	switch {
	case !resumed:
	case reason != "":
		why = reason
	case !initial:
		why = "initial replication is not complete"
	default:
		a.forceAll = false
		a.mon.event("tracking-resumed", "info", "the tracker kept tracking while the service was stopped: the first point reads only the blocks written meanwhile")
		return
	}
	a.mon.event("tracking-not-resumed", "info", "the first point compares every block: "+why, "reason", why)
}

// suspendTracking, at a clean stop, leaves the tracker tracking for the next start, with the
// blocks the points in flight and the carried candidates hold; it reports whether it did. When
// the next point would compare every block anyway, or a point in flight covers all blocks, the
// tracker is closed instead.
func (a *Agent) suspendTracking() bool {
	r, ok := a.tracker.(resumer)
	if !ok {
		return false
	}
	a.stMu.Lock()
	reason := a.resyncReason
	a.stMu.Unlock()
	if a.forceAll || reason != "" {
		return false
	}
	extra := map[string]*tracker.Bitmap{}
	add := func(disk string, b *tracker.Bitmap) {
		if e := extra[disk]; e != nil {
			e.Or(b)
			return
		}
		c := tracker.NewBitmap(b.Len())
		c.Or(b)
		extra[disk] = c
	}
	for _, p := range a.rep.pending() {
		for disk, b := range p.dirty {
			if b == nil {
				return false
			}
			add(disk, b)
		}
	}
	for disk, b := range a.carry {
		add(disk, b)
	}
	if err := r.Suspend(extra); err != nil {
		a.mon.event("tracking-not-suspended", "warning", "the tracker could not keep tracking while the service is stopped: the next start compares every block", "err", err.Error())
		return true // Suspend closed it
	}
	a.mon.event("tracking-suspended", "info", "the tracker keeps tracking while the service is stopped")
	return true
}
