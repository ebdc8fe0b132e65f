package configserver

import (
	"cmp"
	"slices"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver/vaultlink"
)

// The resync budget caps the initial replications and resyncs that run at once, per process
// server and for the whole site (this configuration server), so that enabling many machines, or
// many agents starting at once, does not storm the network. A machine told to replicate whose agent
// has not started yet (it reports no state, or enabling) waits for a slot: its agent is told not
// to replicate yet, and the views show it "queued". Slots are given in the order machines started
// waiting, as they free. A machine holds its slot until it reports protected. A resync an agent
// starts by itself (after it finds a gap in its tracking) takes a slot too, but is never stopped
// for the budget: it only delays the machines that wait. An agent this configuration server has
// not heard from since it started is not held back (nothing says it is starting: after a restart
// of the configuration server, running agents must not stop).

// wantedLocked reports whether the vault wants machine replicated.
func (r *Registry) wantedLocked(machine string) bool {
	if r.st.Desired == nil {
		return false
	}
	return slices.ContainsFunc(r.st.Desired.Items, func(it vaultlink.Desired) bool { return it.Machine == machine })
}

// startingLocked reports whether machine's agent reports that its data path has not started.
func (r *Registry) startingLocked(machine string) bool {
	b, ok := r.beats["agent/"+machine]
	return ok && (b.agent.State == "" || b.agent.State == "enabling")
}

// holdsSlotLocked reports whether machine takes a slot of the resync budget.
func (r *Registry) holdsSlotLocked(machine string) bool {
	if !r.wantedLocked(machine) {
		return false
	}
	st := r.beats["agent/"+machine].agent.State
	switch {
	case st == "initial-replication" || st == "resynchronising":
		return true
	case st == "protected":
		return false
	}
	return r.so.admitted[machine]
}

// queuedLocked reports whether machine waits for a slot (its agent is told not to replicate yet).
func (r *Registry) queuedLocked(machine string) bool {
	so := &r.so
	if so.samples == nil || (so.settings.ResyncBudgetPerProcessServer == 0 && so.settings.ResyncBudgetPerSite == 0) {
		return false
	}
	return r.wantedLocked(machine) && !so.admitted[machine] && !so.done[machine] && r.startingLocked(machine)
}

// allowedLocked reports whether the budget lets machine replicate now; a machine that waits gets
// a free slot at once (the other agents hear of slots given meanwhile at the next tick).
func (r *Registry) allowedLocked(machine string) bool {
	if !r.queuedLocked(machine) {
		return true
	}
	if r.admitLocked(r.clock.Now()) {
		r.so.bump = true
	}
	return !r.queuedLocked(machine)
}

// admitLocked gives free slots to waiting machines, oldest first. It reports whether a machine
// was admitted or started waiting (agents must then fetch their configuration again).
func (r *Registry) admitLocked(now time.Time) bool {
	so := &r.so
	changed := false
	perPS, site := map[string]int{}, 0
	var waiting []string
	for _, a := range r.st.Agents {
		switch {
		case !r.wantedLocked(a.Machine):
			delete(so.admitted, a.Machine)
			delete(so.waiting, a.Machine)
			delete(so.done, a.Machine)
			continue
		case r.holdsSlotLocked(a.Machine):
			perPS[a.ProcessServer]++
			site++
			delete(so.waiting, a.Machine)
		case r.beats["agent/"+a.Machine].agent.State == "protected":
			delete(so.admitted, a.Machine)
		}
		if r.queuedLocked(a.Machine) {
			if _, ok := so.waiting[a.Machine]; !ok {
				so.waiting[a.Machine] = now
				changed = true
			}
			waiting = append(waiting, a.Machine)
		}
	}
	slices.SortFunc(waiting, func(a, b string) int {
		if c := so.waiting[a].Compare(so.waiting[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	for _, m := range waiting {
		ps := r.assignedLocked(m)
		if (so.settings.ResyncBudgetPerProcessServer > 0 && perPS[ps] >= so.settings.ResyncBudgetPerProcessServer) ||
			(so.settings.ResyncBudgetPerSite > 0 && site >= so.settings.ResyncBudgetPerSite) {
			continue
		}
		so.admitted[m] = true
		delete(so.waiting, m)
		perPS[ps]++
		site++
		changed = true
	}
	return changed
}

// QueueEntry is a machine waiting for a slot of the resync budget.
type QueueEntry struct {
	Machine       string    `json:"machine"`
	ProcessServer string    `json:"process_server"`
	Since         time.Time `json:"since"`
}

// Queue returns the machines waiting for a slot, in the order they get one.
func (r *Registry) Queue() []QueueEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	var q []QueueEntry
	for _, a := range r.st.Agents {
		if r.queuedLocked(a.Machine) {
			q = append(q, QueueEntry{Machine: a.Machine, ProcessServer: a.ProcessServer, Since: r.so.waiting[a.Machine].UTC()})
		}
	}
	slices.SortFunc(q, func(a, b QueueEntry) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return cmp.Compare(a.Machine, b.Machine)
	})
	return q
}

// Settings returns the scale-out settings in force.
func (r *Registry) Settings() ScaleOutSettings {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.so.init(r.clock.Now())
	return r.so.settings
}

// SetSettings puts settings in force (the caller has saved them); a larger budget admits
// waiting machines at once.
func (r *Registry) SetSettings(s ScaleOutSettings) error {
	if err := s.Check(); err != nil {
		return err
	}
	r.mu.Lock()
	r.so.init(r.clock.Now())
	r.so.settings = s
	changed := r.admitLocked(r.clock.Now())
	r.mu.Unlock()
	if changed {
		return r.update(true, func(*state) error { return nil })
	}
	return nil
}
