package processserver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DrainState is one machine in /health's "drain": how far what the server acknowledged is
// committed. A configuration server answers "latest received" from it (docs/pipeline.md, "Planned
// failover"): once CommittedSeq ≥ the DurableSeq it saw after the request began, CommittedPoint
// holds every block acknowledged before.
type DrainState struct {
	Machine        string `json:"machine"`
	DurableSeq     uint64 `json:"durable_seq"`   // newest seq acknowledged Durable (or committed)
	CommittedSeq   uint64 `json:"committed_seq"` // newest committed seq
	CommittedPoint string `json:"committed_point,omitempty"`
	CachedPoints   int    `json:"cached_points"`
}

// drainStates returns the drain state of every machine, by name.
func (s *Server) drainStates() []DrainState {
	out := []DrainState{}
	for _, m := range s.machineList() {
		m.mu.Lock()
		out = append(out, DrainState{Machine: m.name, DurableSeq: m.durableSeq(), CommittedSeq: m.newest,
			CommittedPoint: m.committed[m.newest], CachedPoints: len(m.queue)})
		m.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b DrainState) int { return strings.Compare(a.Machine, b.Machine) })
	return out
}

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
