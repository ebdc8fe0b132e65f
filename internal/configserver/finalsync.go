package configserver

import (
	"slices"
	"sync"
)

// Final syncs and latest-received requests (docs/pipeline.md, "Planned failover"). The vault asks
// through GET /api/v1/cs/requests (finalsync_loop.go); a final sync is passed on to the machine's
// agent in its configuration (AgentConfig.FinalSync) and answered by its heartbeat
// (AgentHeartbeat.FinalSync); a latest-received request is answered from the process server's
// heartbeats (PSHealth.Drain). Requests carry the vault's ID, so that a repeated or stale order
// or report is recognised.

// FinalSyncOrder asks an agent for a final sync.
type FinalSyncOrder struct {
	ID             string `json:"id"`
	Shutdown       bool   `json:"shutdown"`        // run the shutdown hook first, stop replicating after
	TimeoutSeconds int64  `json:"timeout_seconds"` // how long the agent may take, from when it gets the order
}

// Final sync states in reports.
const (
	FinalSyncRunning   = "running"
	FinalSyncSucceeded = "succeeded"
	FinalSyncFailed    = "failed"
)

// FinalSyncReport is an agent's answer to the FinalSyncOrder of the same ID.
type FinalSyncReport struct {
	ID      string `json:"id"`
	State   string `json:"state"` // running, succeeded, failed
	PointID string `json:"point_id,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
	Error   string `json:"error,omitempty"`
}

// ended reports whether the report is final.
func (r *FinalSyncReport) ended() bool {
	return r != nil && (r.State == FinalSyncSucceeded || r.State == FinalSyncFailed)
}

// PSDrain is one machine of a process server's drain state (internal/processserver DrainState).
type PSDrain struct {
	Machine        string `json:"machine"`
	DurableSeq     uint64 `json:"durable_seq"`
	CommittedSeq   uint64 `json:"committed_seq"`
	CommittedPoint string `json:"committed_point,omitempty"`
	CachedPoints   int    `json:"cached_points"`
}

// finalSyncs is the registry's part of the requests: the orders agents are told, their reports,
// and the drain state of each process server with a count of its heartbeats. The zero value is
// ready. Its lock is taken inside the registry's, never the other way.
type finalSyncs struct {
	mu      sync.Mutex
	orders  map[string]FinalSyncOrder  // by machine
	reports map[string]FinalSyncReport // by machine: the newest report
	drains  map[string]psDrainBeat     // by process server
	changed chan struct{}              // closed and replaced when a report or a drain state arrives
}

type psDrainBeat struct {
	n      uint64 // heartbeats received since the start
	drains []PSDrain
}

// notifyLocked wakes everything waiting for a change. Caller holds mu.
func (f *finalSyncs) notifyLocked() {
	if f.changed != nil {
		close(f.changed)
	}
	f.changed = make(chan struct{})
}

// wait returns a channel closed at the next report or drain state.
func (f *finalSyncs) wait() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.changed == nil {
		f.changed = make(chan struct{})
	}
	return f.changed
}

// order returns the order machine's agent is told now, nil when none.
func (f *finalSyncs) order(machine string) *FinalSyncOrder {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o, ok := f.orders[machine]; ok {
		return &o
	}
	return nil
}

// setOrder tells (o set) or stops telling (o nil) machine's agent a final sync order.
func (f *finalSyncs) setOrder(machine string, o *FinalSyncOrder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o == nil {
		delete(f.orders, machine)
		return
	}
	if f.orders == nil {
		f.orders = map[string]FinalSyncOrder{}
	}
	f.orders[machine] = *o
}

// agentBeat records the final sync report of an agent's heartbeat.
func (f *finalSyncs) agentBeat(machine string, r *FinalSyncReport) {
	if r == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reports == nil {
		f.reports = map[string]FinalSyncReport{}
	}
	if old, ok := f.reports[machine]; ok && old == *r {
		return
	}
	f.reports[machine] = *r
	f.notifyLocked()
}

// report returns the newest report of machine's agent about request id.
func (f *finalSyncs) report(machine, id string) (FinalSyncReport, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.reports[machine]
	return r, ok && r.ID == id
}

// psBeat records the drain state of a process server's heartbeat.
func (f *finalSyncs) psBeat(ps string, d []PSDrain) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.drains == nil {
		f.drains = map[string]psDrainBeat{}
	}
	b := f.drains[ps]
	f.drains[ps] = psDrainBeat{n: b.n + 1, drains: slices.Clone(d)}
	f.notifyLocked()
}

// drain returns how many heartbeats process server ps sent, and its drain state of machine in the
// newest one (ok false when that heartbeat did not list the machine).
func (f *finalSyncs) drain(ps, machine string) (n uint64, d PSDrain, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.drains[ps]
	for _, x := range b.drains {
		if x.Machine == machine {
			return b.n, x, true
		}
	}
	return b.n, PSDrain{}, false
}
