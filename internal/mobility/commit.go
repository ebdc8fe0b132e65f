package mobility

import (
	"fmt"
	"strconv"
	"time"

	"github.com/opensiterecovery/osr/internal/mobility/state"
	"github.com/opensiterecovery/osr/internal/wire"
)

// onCommitted applies a Committed report: the only place replica maps move forward.
func (a *Agent) onCommitted(m wire.Committed) {
	if m.Seq > a.psCommitted.Load() {
		a.psCommitted.Store(m.Seq)
	}
	pts := a.rep.commit(m.Seq, m.Point)
	if len(pts) == 0 {
		if m.Seq > a.rep.committedSeq() {
			a.needResync(fmt.Sprintf("the process server committed seq %d, which this agent did not send in this run", m.Seq))
		}
		return
	}
	a.committed(pts, m.Point, m.Time)
}

// committed records points applied to the maps and persists the maps and the agent state. While
// the filesystems are frozen the files are written after the thaw instead (the state directory
// may be on a frozen filesystem).
func (a *Agent) committed(pts []*point, pointID string, at time.Time) {
	last := pts[len(pts)-1]
	// Status first: whoever sees the agent state move (InitialDone) sees the seq in status too.
	complete := false
	for _, p := range pts {
		complete = complete || p.kind != wire.KindPartial
	}
	a.mon.update(func(s *Status) {
		s.CommittedSeq, s.PointID, s.CaptureTime = last.seq, pointID, last.time
		if complete && s.State == StateInitialReplication {
			s.State = StateProtected
		}
	})
	a.stMu.Lock()
	a.st.CommittedSeq, a.st.PointID, a.st.CommittedAt, a.st.CaptureTime = last.seq, pointID, at, last.time
	for _, p := range pts {
		if p.kind == wire.KindPartial {
			if a.st.Initial == nil {
				a.st.Initial = map[string]int64{}
			}
			for d, c := range p.cursor {
				a.st.Initial[d] = c
			}
		} else {
			a.st.InitialDone = true
			if p.kind == wire.KindApp {
				a.st.LastAppConsistent = p.time
			}
		}
	}
	if a.st.NextSeq <= last.seq {
		a.st.NextSeq = last.seq + 1
	}
	a.stMu.Unlock()
	if a.persistMu.TryRLock() {
		a.persist()
		a.persistMu.RUnlock()
	} else {
		a.saveDeferred.Store(true)
	}
	a.noteCommitted(pts, pointID, at)
	a.mon.event("committed", "info", "point committed", "seq", strconv.FormatUint(last.seq, 10), "point", pointID,
		"kind", string(last.kind))
}

// persist writes the replica maps, then the agent state.
func (a *Agent) persist() {
	saveErr := a.rep.save(a.cfg.StateDir)
	a.stMu.Lock()
	if err := state.SaveAgent(a.cfg.StateDir, a.st); err != nil && saveErr == nil {
		saveErr = err
	}
	a.stMu.Unlock()
	if saveErr != nil {
		a.mon.fail(saveErr)
		a.mon.event("state-save-failed", "alert", "could not persist the replica state; the next start resynchronises", "err", saveErr.Error())
	}
}
