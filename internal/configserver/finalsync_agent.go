package configserver

import (
	"context"
	"slices"
	"sync"
	"time"
)

// DefaultFinalSyncTimeout bounds a final sync whose order names no timeout.
const DefaultFinalSyncTimeout = 15 * time.Minute

// AgentFinalSyncs is the managed agent's side of final syncs: it runs each order its
// configuration carries once per request ID (a configuration fetched again, or an order seen
// before, changes nothing), and keeps the report its heartbeats send (Report). It is safe for
// concurrent use.
type AgentFinalSyncs struct {
	run  func(ctx context.Context, shutdown bool) (pointID string, seq uint64, err error)
	kick func()

	mu      sync.Mutex
	current *FinalSyncReport
	seen    []string // request IDs run, newest last
}

// maxSeen bounds the request IDs remembered.
const maxSeen = 32

// NewAgentFinalSyncs returns the final syncs of an agent that run runs (the agent's FinalSync,
// bounded by its ctx); kick, when set, is called when the report changed, so that a heartbeat
// carries it at once.
func NewAgentFinalSyncs(run func(ctx context.Context, shutdown bool) (pointID string, seq uint64, err error), kick func()) *AgentFinalSyncs {
	return &AgentFinalSyncs{run: run, kick: kick}
}

// Handle starts the final sync o orders, unless it ran or runs already; nil does nothing. The run
// is bounded by o's timeout and by ctx.
func (f *AgentFinalSyncs) Handle(ctx context.Context, o *FinalSyncOrder) {
	if o == nil || o.ID == "" {
		return
	}
	f.mu.Lock()
	if slices.Contains(f.seen, o.ID) {
		f.mu.Unlock()
		return
	}
	f.seen = append(f.seen, o.ID)
	if len(f.seen) > maxSeen {
		f.seen = f.seen[len(f.seen)-maxSeen:]
	}
	f.current = &FinalSyncReport{ID: o.ID, State: FinalSyncRunning}
	f.mu.Unlock()
	f.poke()
	timeout := DefaultFinalSyncTimeout
	if o.TimeoutSeconds > 0 {
		timeout = time.Duration(o.TimeoutSeconds) * time.Second
	}
	go func() {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		point, seq, err := f.run(rctx, o.Shutdown)
		rep := &FinalSyncReport{ID: o.ID, State: FinalSyncSucceeded, PointID: point, Seq: seq}
		if err != nil {
			rep = &FinalSyncReport{ID: o.ID, State: FinalSyncFailed, Error: err.Error()}
		}
		f.mu.Lock()
		if f.current != nil && f.current.ID == o.ID {
			f.current = rep
		}
		f.mu.Unlock()
		f.poke()
	}()
}

// Report returns the report of the newest final sync, nil before the first.
func (f *AgentFinalSyncs) Report() *FinalSyncReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.current == nil {
		return nil
	}
	r := *f.current
	return &r
}

func (f *AgentFinalSyncs) poke() {
	if f.kick != nil {
		f.kick()
	}
}
