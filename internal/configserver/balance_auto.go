package configserver

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// ScaleOutInterval is how often the configuration server reviews its process servers.
const ScaleOutInterval = time.Second

// ScaleOutTick samples the heartbeats, gives free slots of the resync budget to waiting machines
// and, when the settings say automatic, moves machines off process servers that are lost (no
// heartbeat for lost_after_seconds, or unreachable for their agents) or overloaded (rated Critical
// for overload_after_seconds):
//   - a lost one gives up all its machines, largest change rate first, each to the least loaded
//     eligible process server whose cache keeps 30 % free with it (25 % when none does: the
//     machine replicates nowhere otherwise);
//   - an overloaded one sheds one machine, the largest one not moved within hold_seconds that
//     fits elsewhere, then waits settle_seconds before the next.
//
// Eligible process servers are Connected or Warning and were neither lost nor overloaded within
// hold_seconds, so that a machine does not go back to a server that just failed; when none has
// room for a lost one's machine, one rated Critical but not overloaded may take it. It returns the
// moves applied and notes on what could not be done (each note once while it holds).
func (r *Registry) ScaleOutTick() ([]Move, []string) {
	r.mu.Lock()
	now := r.clock.Now()
	r.sampleLocked(now)
	admitted := r.admitLocked(now) || r.so.bump
	r.so.bump = false
	so := &r.so
	var moves []Move
	var notes []string
	note := func(ps, key, msg string) {
		if so.noted[ps] != key {
			so.noted[ps] = key
			notes = append(notes, msg)
		}
	}
	if so.settings.Automatic {
		p := newPlan(r.loadsLocked(now))
		eligible := func(n string) bool { return p.ps[n].Eligible }
		rescue := func(n string) bool { return p.ps[n].rescue }
		for _, name := range p.names {
			src := *p.ps[name]
			var mine []MachineLoad
			for _, m := range p.ms {
				if m.ProcessServer == name {
					mine = append(mine, m)
				}
			}
			slices.SortFunc(mine, byChurn)
			switch {
			case len(mine) == 0:
				delete(so.noted, name)
			case src.Lost != "":
				stuck := 0
				for _, m := range mine {
					mp := p.machine(m.Machine)
					to := p.target(mp, CacheWarn, eligible)
					if to == "" {
						to = p.target(mp, CacheCritical, rescue)
					}
					if to == "" {
						stuck++
						continue
					}
					p.move(mp, to, fmt.Sprintf("process server %s is lost: %s", name, src.Lost))
				}
				if stuck > 0 {
					note(name, fmt.Sprintf("lost %d", stuck), fmt.Sprintf("process server %s is lost (%s): %d machines stay on it, no process server that may take machines has room for them", name, src.Lost, stuck))
				} else {
					delete(so.noted, name)
				}
			case src.Overloaded != "" && now.Sub(so.shedAt[name]) >= secs(so.settings.SettleSeconds):
				shed := false
				for _, m := range mine {
					if m.MovedAt != nil && now.Sub(*m.MovedAt) < secs(so.settings.HoldSeconds) {
						continue
					}
					mp := p.machine(m.Machine)
					if to := p.target(mp, CacheWarn, eligible); to != "" {
						p.move(mp, to, fmt.Sprintf("process server %s is overloaded: %s", name, src.Overloaded))
						so.shedAt[name] = now
						shed = true
						break
					}
				}
				if !shed {
					note(name, "overloaded", fmt.Sprintf("process server %s is overloaded (%s): no machine of it fits on a process server that may take machines", name, src.Overloaded))
				} else {
					delete(so.noted, name)
				}
			}
		}
		moves = p.moves
	}
	r.mu.Unlock()
	if admitted {
		if err := r.update(true, func(*state) error { return nil }); err != nil {
			notes = append(notes, "resync budget: "+err.Error())
		}
	}
	if len(moves) > 0 {
		if err := r.Reassign(moves, true); err != nil {
			return nil, append(notes, "automatic move not applied: "+err.Error())
		}
	}
	return moves, notes
}

// scaleOutLoop runs ScaleOutTick every ScaleOutInterval until ctx ends and logs what it did.
func (s *Server) scaleOutLoop(ctx context.Context) {
	t := time.NewTicker(ScaleOutInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		moves, notes := s.registry.ScaleOutTick()
		for _, mv := range moves {
			s.cfg.Logger.Warn("machine moved to another process server", "machine", mv.Machine, "from", mv.From, "to", mv.To,
				"churn_bytes_per_second", int64(mv.ChurnBytesPerS), "cache_need_bytes", mv.CacheNeedBytes, "reason", mv.Reason)
		}
		for _, n := range notes {
			s.cfg.Logger.Warn(n)
		}
	}
}

// loadScaleOut puts the data directory's scale-out settings in force.
func (s *Server) loadScaleOut() error {
	so, err := LoadScaleOut(s.cfg.DataDir)
	if err != nil {
		return err
	}
	return s.registry.SetSettings(so)
}
