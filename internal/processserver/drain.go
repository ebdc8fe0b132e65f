package processserver

import (
	"context"
	"fmt"
	"time"
)

// DrainResult is the newest committed point of a machine once everything received for it before
// the drain began is committed.
type DrainResult struct {
	Machine     string
	ReceivedSeq uint64 // the newest seq acknowledged Durable when the drain began
	Seq         uint64 // the newest committed seq (≥ ReceivedSeq)
	Point       string // its store point ID; empty when nothing is committed
}

// Drain waits until every point of machine that this server had acknowledged Durable when Drain
// was called is committed, and returns the newest committed point. It is what an unplanned
// failover's "latest" point needs: a point that holds every block the process server acked. Points
// that arrive after the call do not hold it up. A machine this server has not seen since it
// started is looked up in the store. Bounded by ctx.
func (s *Server) Drain(ctx context.Context, machine string) (DrainResult, error) {
	m, err := s.machine(ctx, machine)
	if err != nil {
		return DrainResult{}, err
	}
	m.mu.Lock()
	target := m.durableSeq()
	m.mu.Unlock()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		m.mu.Lock()
		newest, id := m.newest, m.committed[m.newest]
		m.mu.Unlock()
		if newest >= target {
			return DrainResult{Machine: machine, ReceivedSeq: target, Seq: newest, Point: id}, nil
		}
		select {
		case <-ctx.Done():
			return DrainResult{}, fmt.Errorf("drain %s: seq %d of %d committed: %w", machine, newest, target, ctx.Err())
		case <-tick.C:
		}
	}
}
