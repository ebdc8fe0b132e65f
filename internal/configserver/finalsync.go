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
	drains  map[string][]psDrainBeat   // by process server: its last drainHistory heartbeats, oldest first
	asks    map[string]int64           // by process server: its newest health ask (finalsync_ask.go)
	// answering: the process servers that answered a health ask since the start
	answering map[string]bool
	changed   chan struct{} // closed and replaced when a report or a drain state arrives
}

type psDrainBeat struct {
	n      uint64 // heartbeats received since the start
	answer int64  // the health ask it answers (PSHealth.HealthAnswer); 0: none
	drains []PSDrain
}

// drainHistory is how many heartbeats of each process server are kept.
const drainHistory = 16

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

// check tells whether a report is one an agent may send: a known state, a point for success and
// only then, an error for failure and only then.
func (r *FinalSyncReport) check() bool {
	switch {
	case r.ID == "" || len(r.ID) > 200 || len(r.PointID) > 200 || len(r.Error) > 4096:
		return false
	case r.State == FinalSyncRunning:
		return r.PointID == "" && r.Error == ""
	case r.State == FinalSyncSucceeded:
		return r.PointID != "" && r.Error == ""
	case r.State == FinalSyncFailed:
		return r.PointID == "" && r.Error != ""
	}
	return false
}

// agentBeat records the final sync report of an agent's heartbeat; a report that does not check
// is ignored (the request then ends at its timeout).
func (f *finalSyncs) agentBeat(machine string, r *FinalSyncReport) {
	if r == nil || !r.check() {
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

// psBeat records the drain state of a process server's heartbeat and the health ask it answers.
func (f *finalSyncs) psBeat(ps string, d []PSDrain, answer int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.drains == nil {
		f.drains = map[string][]psDrainBeat{}
	}
	if answer > 0 {
		if f.answering == nil {
			f.answering = map[string]bool{}
		}
		f.answering[ps] = true
	}
	h := f.drains[ps]
	var n uint64 = 1
	if len(h) > 0 {
		n = h[len(h)-1].n + 1
	}
	h = append(h, psDrainBeat{n: n, answer: answer, drains: slices.Clone(d)})
	if len(h) > drainHistory {
		h = slices.Delete(h, 0, len(h)-drainHistory)
	}
	f.drains[ps] = h
	f.notifyLocked()
}

// drain returns how many heartbeats process server ps sent, and its drain state of machine in the
// newest one (ok false when that heartbeat did not list the machine).
func (f *finalSyncs) drain(ps, machine string) (n uint64, d PSDrain, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.drains[ps]
	if len(h) == 0 {
		return 0, PSDrain{}, false
	}
	b := h[len(h)-1]
	d, ok = find(b.drains, machine)
	return b.n, d, ok
}

// drainAt returns the drain state of machine in heartbeat k of process server ps, or in the
// oldest one kept after it; a heartbeat that says it carries no health document read
// (HealthAnswer < 0) is passed over. found is false when there is none yet.
func (f *finalSyncs) drainAt(ps, machine string, k uint64) (d PSDrain, listed, found bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.drains[ps] {
		if b.n >= k && b.answer >= 0 {
			d, listed = find(b.drains, machine)
			return d, listed, true
		}
	}
	return PSDrain{}, false, false
}

func find(ds []PSDrain, machine string) (PSDrain, bool) {
	for _, x := range ds {
		if x.Machine == machine {
			return x, true
		}
	}
	return PSDrain{}, false
}
