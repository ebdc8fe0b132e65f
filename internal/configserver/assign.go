package configserver

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver/vaultlink"
)

// Move is one machine's move from a process server to another.
type Move struct {
	Machine        string  `json:"machine"`
	From           string  `json:"from"`
	To             string  `json:"to"`
	ChurnBytesPerS float64 `json:"churn_bytes_per_second"` // the machine's average change rate
	CacheNeedBytes int64   `json:"cache_need_bytes"`       // the cache space it needs on the target
	// TargetCacheFreePercent is the target's cache free share once this move and the ones before
	// it in the plan have taken their space.
	TargetCacheFreePercent float64 `json:"target_cache_free_percent"`
	Reason                 string  `json:"reason,omitempty"`
}

// MoveEvent is a move that was applied.
type MoveEvent struct {
	Time      time.Time `json:"time"`
	Automatic bool      `json:"automatic"`
	Move
}

// maxEvents bounds the moves remembered for osr process-server scale-out.
const maxEvents = 200

// ErrNoMove is returned for a switch or balance that has nothing to move.
var ErrNoMove = errors.New("nothing to move")

// Reassign moves machines to other process servers, all or none: each machine must be enrolled
// and still on the From of its move, each target an enrolled process server. The agents see the
// change at once (their configuration long poll returns) and reconnect to the new process server
// without a restart and without a resync: they keep their tracking, and what the old process
// server had not committed is sent again. Each move is recorded as an event.
func (r *Registry) Reassign(moves []Move, automatic bool) error {
	if len(moves) == 0 {
		return ErrNoMove
	}
	now := r.clock.Now()
	err := r.update(true, func(st *state) error {
		seen := map[string]bool{}
		for _, mv := range moves {
			if seen[mv.Machine] {
				return fmt.Errorf("machine %s is moved twice", mv.Machine)
			}
			seen[mv.Machine] = true
			if !hasPS(st, mv.To) {
				return fmt.Errorf("process server %s is not enrolled", mv.To)
			}
			i := slices.IndexFunc(st.Agents, func(a AgentRecord) bool { return a.Machine == mv.Machine })
			switch {
			case i < 0:
				return fmt.Errorf("machine %s is not enrolled", mv.Machine)
			case st.Agents[i].ProcessServer != mv.From:
				return fmt.Errorf("machine %s is on process server %s, not %s", mv.Machine, st.Agents[i].ProcessServer, mv.From)
			case mv.From == mv.To:
				return fmt.Errorf("machine %s is already on process server %s", mv.Machine, mv.To)
			}
			st.Agents[i].ProcessServer = mv.To
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.so.init(now)
	for _, mv := range moves {
		r.so.movedAt[mv.Machine] = now
		delete(r.so.offSince, mv.Machine)
		r.so.events = append(r.so.events, MoveEvent{Time: now.UTC(), Automatic: automatic, Move: mv})
	}
	if n := len(r.so.events) - maxEvents; n > 0 {
		r.so.events = slices.Delete(r.so.events, 0, n)
	}
	r.mu.Unlock()
	r.report() // the vault sees the new assignment with the next heartbeat
	return nil
}

// PlanSwitch plans moving machines (all of from's when none are named) from one process server
// to another, with each machine's change rate and cache need. It does not check the target's
// health or room: the operator decides, from what the plan shows.
func (r *Registry) PlanSwitch(from, to string, machines []string) ([]Move, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !hasPS(&r.st, from):
		return nil, fmt.Errorf("process server %s is not enrolled", from)
	case !hasPS(&r.st, to):
		return nil, fmt.Errorf("process server %s is not enrolled", to)
	case from == to:
		return nil, fmt.Errorf("the source and the target are both process server %s", from)
	}
	p := newPlan(r.loadsLocked(r.clock.Now()))
	if len(machines) == 0 {
		for _, m := range p.ms {
			if m.ProcessServer == from {
				machines = append(machines, m.Machine)
			}
		}
		if len(machines) == 0 {
			return nil, fmt.Errorf("process server %s has no machines: %w", from, ErrNoMove)
		}
	}
	seen := map[string]bool{}
	for _, name := range machines {
		m := p.machine(name)
		switch {
		case m == nil:
			return nil, fmt.Errorf("machine %s is not enrolled", name)
		case seen[name]:
			return nil, fmt.Errorf("machine %s is named twice", name)
		case m.ProcessServer != from:
			return nil, fmt.Errorf("machine %s is on process server %s, not %s", name, m.ProcessServer, from)
		}
		seen[name] = true
		p.move(m, to, "switch")
	}
	return p.moves, nil
}

// PlanBalance plans moves that even out the change rate (and, for machines that change little,
// the number of machines) across process servers: the named ones, else every one that may
// receive machines. A move is planned only when it narrows the gap between the most and the least
// loaded, and never onto a process server whose cache would fall under the warning threshold.
// automatic keeps machines moved within the hold time where they are.
func (r *Registry) PlanBalance(names []string, automatic bool) ([]Move, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	p := newPlan(r.loadsLocked(now))
	in := map[string]bool{}
	for _, n := range names {
		if p.ps[n] == nil {
			return nil, fmt.Errorf("process server %s is not enrolled", n)
		}
		in[n] = true
	}
	if len(names) == 0 {
		for _, n := range p.names {
			if p.ps[n].Eligible {
				in[n] = true
			}
		}
	}
	if len(in) < 2 {
		return nil, fmt.Errorf("balancing needs two process servers that may take machines, there are %d: %w", len(in), ErrNoMove)
	}
	load := func(n string) float64 { return p.ps[n].ChurnBytesPerS + balanceUnit*float64(p.ps[n].Machines) }
	moved := map[string]bool{}
	for range len(p.ms) {
		hi, lo := "", ""
		for _, n := range p.names {
			if !in[n] {
				continue
			}
			if hi == "" || load(n) > load(hi) {
				hi = n
			}
			if lo == "" || load(n) < load(lo) {
				lo = n
			}
		}
		gap := load(hi) - load(lo)
		var best *MachineLoad
		for i := range p.ms {
			m := &p.ms[i]
			w := m.ChurnBytesPerS + balanceUnit
			if m.ProcessServer != hi || moved[m.Machine] || w >= gap || freeAfter(p.ps[lo], m.CacheNeedBytes) < CacheWarn {
				continue
			}
			if automatic && m.MovedAt != nil && now.Sub(*m.MovedAt) < secs(r.so.settings.HoldSeconds) {
				continue
			}
			if best == nil || abs(w-gap/2) < abs(best.ChurnBytesPerS+balanceUnit-gap/2) ||
				(abs(w-gap/2) == abs(best.ChurnBytesPerS+balanceUnit-gap/2) && m.Machine < best.Machine) {
				best = m
			}
		}
		if best == nil {
			break
		}
		moved[best.Machine] = true
		p.move(best, lo, "balance")
	}
	if len(p.moves) == 0 {
		return nil, fmt.Errorf("the process servers are balanced: %w", ErrNoMove)
	}
	return p.moves, nil
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// Events returns the moves applied since this server started, oldest first.
func (r *Registry) Events() []MoveEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.so.events)
}

// Loads returns every process server and machine with what switch and balance decide on.
func (r *Registry) Loads() ([]PSLoad, []MachineLoad) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	r.sampleLocked(now)
	return r.loadsLocked(now)
}

// desiredPS is the process server a desired state chose for machine ("" for none).
func desiredPS(d *vaultlink.DesiredState, machine string) string {
	if d == nil {
		return ""
	}
	for _, it := range d.Items {
		if it.Machine == machine {
			return it.ProcessServer
		}
	}
	return ""
}
