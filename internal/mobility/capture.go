package mobility

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/freeze"
	"github.com/opensiterecovery/osr/internal/mobility/tracker"
	"github.com/opensiterecovery/osr/internal/wire"
)

var errBudget = errors.New("point budget reached")

// partial sends the next chunk of initial replication as a partial point: the disks in order from
// their cursor, until InitialPointSize bytes of data are sent.
func (a *Agent) partial(ctx context.Context, s *session) error {
	a.mon.update(func(st *Status) { st.State = StateInitialReplication })
	sd, err := a.begin(ctx, s, wire.KindPartial)
	if err != nil {
		return err
	}
	budget := int64(a.cfg.InitialPointSize)
	var sent int64
	for _, d := range a.disks {
		pos := a.cursor[d.name]
		if pos >= d.Size() {
			continue
		}
		stopAt := int64(-1)
		_, err := sd.compareDisk(ctx, d, tracker.Changes{All: true}, pos/tracker.BlockSize,
			func(first int64, data []byte, fps []tracker.Fingerprint) error {
				if err := sd.send(ctx, d.name, first, data, fps); err != nil {
					return err
				}
				sent += int64(len(data))
				if sent >= budget {
					stopAt = first + int64(len(fps))
					return errBudget
				}
				return nil
			}, nil)
		if errors.Is(err, errBudget) {
			a.cursor[d.name] = min(stopAt*tracker.BlockSize, d.Size())
			break
		}
		if err != nil {
			return err
		}
		a.cursor[d.name] = d.Size()
	}
	sd.p.cursor = maps.Clone(a.cursor)
	if err := sd.end(maps.Clone(a.cursor)); err != nil {
		return err
	}
	a.updateInitialPercent()
	st := a.mon.snapshot()
	a.mon.event("initial-progress", "info", fmt.Sprintf("initial replication %.1f%%", st.InitialPercent),
		"seq", strconv.FormatUint(sd.p.seq, 10), "percent", fmt.Sprintf("%.1f", st.InitialPercent), "sent_bytes", strconv.FormatInt(sent, 10))
	a.reportResync(sd)
	return nil
}

// initialComplete reports whether initial replication has read every disk to its end.
func (a *Agent) initialComplete() bool {
	for _, d := range a.disks {
		if a.cursor[d.name] < d.Size() {
			return false
		}
	}
	return true
}

// capture takes a complete point of every disk (docs/pipeline.md, "Capture under a brief freeze").
func (a *Agent) capture(ctx context.Context, s *session, kind wire.Kind) error {
	select { // a capture asked for before this one began is this one
	case <-a.triggerCh:
	default:
	}
	cands, err := a.candidates(ctx)
	if err != nil || cands == nil {
		return err
	}
	began := false
	defer func() {
		if !began { // the tracker's candidates are not in a point: keep them for the next one
			for name, c := range cands {
				a.addCarry(name, c.Dirty)
			}
		}
	}()
	paths := map[string]string{}
	for _, d := range a.disks {
		paths[d.name] = d.path
	}
	mounts, err := freeze.Find(paths)
	switch {
	case errors.Is(err, freeze.ErrUnsupported): // no freeze on this system (Windows): say so once
		if !a.noFreezeLog {
			a.noFreezeLog = true
			a.mon.event("no-freeze", "info", err.Error())
		}
		mounts = nil
	case err != nil:
		a.mon.event("mounts-unknown", "warning", "cannot list the filesystems on the protected disks: no freeze", "err", err.Error())
		mounts = nil
	}
	ranPre := false
	if kind == wire.KindApp && a.cfg.Hooks.PreFreeze != "" {
		ranPre = true
		a.stMu.Lock()
		next := a.st.NextSeq
		a.stMu.Unlock()
		if !a.runHook(ctx, "pre-freeze", a.cfg.Hooks.PreFreeze, next) {
			kind = wire.KindCrash
			a.mon.event("app-consistency-failed", "warning", "pre-freeze hook failed: this point is crash-consistent only")
		}
	}
	postDone := false
	post := func(seq uint64) {
		if ranPre && !postDone {
			postDone = true
			a.runHook(context.WithoutCancel(ctx), "post-thaw", a.cfg.Hooks.PostThaw, seq)
		}
	}
	defer post(0)
	sd, err := a.begin(ctx, s, kind)
	if err != nil {
		return err
	}
	began = true
	for name, c := range cands {
		sd.p.dirty[name] = c.Dirty
	}
	if len(mounts) == 0 {
		if !a.noFreezeLog {
			a.noFreezeLog = true
			a.mon.event("no-freeze", "info", "no filesystem is mounted on the protected disks: points are taken in one pass without a freeze")
		}
		for _, d := range a.disks {
			if _, err := sd.compareDisk(ctx, d, cands[d.name], 0, nil, nil); err != nil {
				return err
			}
		}
	} else if err := a.frozenCapture(ctx, sd, cands, mounts, post); err != nil {
		return err
	}
	post(sd.p.seq)
	if err := sd.end(nil); err != nil {
		return err
	}
	a.forceAll = false
	clear(a.carry)
	a.lastCapture = sd.p.time
	if kind == wire.KindApp {
		a.lastApp = sd.p.time
	}
	a.completeSent = true
	a.mon.event("point-sent", "info", "point sent", "seq", strconv.FormatUint(sd.p.seq, 10), "kind", string(kind),
		"blocks", strconv.FormatUint(sd.blocks, 10), "zeroed", strconv.FormatUint(sd.zeroed, 10))
	a.reportResync(sd)
	return nil
}

// candidates asks the tracker what may have changed on each disk. A gap schedules a resync and
// returns nil.
func (a *Agent) candidates(ctx context.Context) (map[string]tracker.Changes, error) {
	out := map[string]tracker.Changes{}
	for _, d := range a.disks {
		c, err := a.tracker.Changes(ctx, d.name)
		if err != nil {
			return nil, fmt.Errorf("tracker %s: %w", a.tracker.Name(), err)
		}
		if c.Gap != "" {
			a.needResync(fmt.Sprintf("tracking gap on disk %s: %s", d.name, c.Gap))
			return nil, nil
		}
		switch {
		case a.forceAll || c.All:
			c = tracker.Changes{All: true}
		default:
			if carry := a.carry[d.name]; carry != nil {
				c.Dirty.Or(carry)
			}
		}
		out[d.name] = c
	}
	return out, nil
}

// errFreezeExpired ends the session: the point taken under the freeze is dropped, and the next
// point carries its changes.
var errFreezeExpired = errors.New("freeze outlasted its bound: point dropped")

// frozenCapture sends the unfrozen pass, freezes, captures what changed since into the spool,
// thaws (always), and sends the spool.
func (a *Agent) frozenCapture(ctx context.Context, sd *sender, cands map[string]tracker.Changes, mounts []freeze.Mount, post func(uint64)) error {
	for _, d := range a.disks {
		if _, err := sd.compareDisk(ctx, d, cands[d.name], 0, nil, nil); err != nil {
			return err
		}
	}
	sp, err := newSpool(int(a.cfg.MemoryBuffer), a.cfg.StateDir, !onFrozen(a.cfg.StateDir, mounts))
	if err != nil {
		return err
	}
	defer sp.close()
	// The journal is written (and the guardian told) before the freeze: whatever happens to this
	// process from here on, the filesystems get thawed.
	if err := a.guard.Before(mounts); err != nil {
		a.mon.event("freeze-failed", "alert", "could not record the freeze: point dropped", "err", err.Error())
		return err
	}
	a.persistMu.Lock() // no state file is written while frozen (it may be on a frozen filesystem)
	fz, err := freeze.Freeze(mounts, a.cfg.FreezeTimeout, a.clock, a.log)
	if err != nil {
		a.persistMu.Unlock()
		a.guard.After()
		a.mon.event("freeze-failed", "alert", "could not freeze the filesystems: point dropped", "err", err.Error())
		return err
	}
	sd.p.time = a.clock.Now() // the capture instant
	fctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-fz.Expired():
			cancel()
		case <-fctx.Done():
		}
	}()
	// What changed since the unfrozen pass is asked for under the freeze: the freeze's own flush
	// of dirty pages is in it.
	second, perr := a.candidates(fctx)
	if perr == nil && second == nil { // a gap: the resync will follow; this point is dropped with the session
		perr = errors.New("tracking gap during a capture")
	}
	for name, c := range second {
		switch d := sd.p.dirty[name]; {
		case c.Dirty == nil || d == nil:
			sd.p.dirty[name] = nil // all blocks
		default:
			d.Or(c.Dirty)
		}
	}
	for _, d := range a.disks {
		if perr != nil {
			break
		}
		name := d.name
		_, perr = sd.compareDisk(fctx, d, second[name], 0,
			func(first int64, data []byte, fps []tracker.Fingerprint) error {
				return sp.addBlocks(name, first, data, fps)
			},
			func(first, n int64) error { sp.addZero(name, first, n); return nil })
		if perr != nil {
			break
		}
	}
	cancel()
	dur, terr := fz.Thaw()
	a.persistMu.Unlock()
	if terr == nil {
		if err := a.guard.After(); err != nil {
			a.log.Warn("freeze journal", "err", err)
		}
	}
	if a.saveDeferred.Swap(false) {
		a.persist()
	}
	post(sd.p.seq)
	points := make([]string, len(mounts))
	for i, m := range mounts {
		points[i] = m.Point
	}
	attrs := []string{"duration", dur.Round(time.Millisecond).String(), "mounts", strings.Join(points, ","),
		"captured_bytes", strconv.FormatInt(sp.bytes(), 10)}
	switch {
	case fz.IsExpired():
		msg := "the freeze outlasted its bound of " + a.cfg.FreezeTimeout.String() + ": point dropped"
		if second == nil || second[a.disks[0].name].All {
			msg += " (the " + a.tracker.Name() + " tracker reads every block under the freeze: raise freeze_timeout or use a write tracker)"
		}
		a.mon.event("freeze-expired", "alert", msg, attrs...)
		return errFreezeExpired
	case terr != nil:
		a.mon.event("thaw-failed", "alert", "thaw failed: "+terr.Error(), attrs...)
		return terr
	case errors.Is(perr, errSpoolFull):
		a.mon.event("freeze-spool-full", "alert", errSpoolFull.Error()+": point dropped", attrs...)
		return perr
	case perr != nil:
		return perr
	}
	a.mon.event("freeze", "info", "filesystems frozen for the capture", attrs...)
	return sp.replay(ctx, sd)
}

// reportResync emits, after the first point following a resync, how much differed.
func (a *Agent) reportResync(sd *sender) {
	if a.resyncCount == "" {
		return
	}
	a.mon.event("resync-complete", "warning", fmt.Sprintf("resynchronised: %d blocks differed from the replica, %d now read as zeros", sd.blocks, sd.zeroed),
		"reason", a.resyncCount, "seq", strconv.FormatUint(sd.p.seq, 10),
		"differing_blocks", strconv.FormatUint(sd.blocks, 10), "zeroed_blocks", strconv.FormatUint(sd.zeroed, 10))
	a.resyncCount = ""
	a.mon.update(func(st *Status) {
		if st.State == StateResynchronising {
			st.State = StateProtected
			if !a.initialDone() && !a.initialComplete() {
				st.State = StateInitialReplication
			}
		}
	})
}
