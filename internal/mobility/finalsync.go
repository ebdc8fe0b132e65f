package mobility

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/opensiterecovery/osr/internal/mobility/state"
	"github.com/opensiterecovery/osr/internal/wire"
)

// FinalSyncResult is the point a final sync committed.
type FinalSyncResult struct {
	Seq         uint64
	PointID     string
	CaptureTime time.Time // the point's capture instant (its freeze, where filesystems are mounted)
	Stopped     bool      // replication stopped after the point (a final sync with shutdown)
}

type finalSyncReq struct {
	ctx      context.Context
	shutdown bool
	reply    chan finalSyncReply // buffered: the loop never waits for the caller
}

type finalSyncReply struct {
	res FinalSyncResult
	err error
}

// errFinalStop ends the session after a final sync with shutdown: Run stops replicating.
var errFinalStop = errors.New("replication stopped after a final sync with shutdown")

// stoppedFile, in the state directory, records that a final sync with shutdown stopped
// replication: a later start of the service does not replicate while it exists.
const stoppedFile = "final-sync.stopped"

// FinalSync takes the last point of a planned failover and returns it once the process server
// has committed it. With shutdown, the configured shutdown hook (hooks.shutdown) runs first and
// must succeed. The point is taken like any other complete point (docs/pipeline.md, "Capture under
// a brief freeze"): every filesystem mounted on the protected disks is frozen for the second pass,
// so every write acknowledged on the source before FinalSync was called is in the point. The
// freeze is bounded by freeze_timeout and always thawed; a freeze that fails or outlasts its
// bound fails the final sync and nothing is committed for it. After the commit, without shutdown
// replication goes on; with shutdown the agent stops replicating (Run keeps running until its
// context ends, and a later start does not replicate: see stoppedFile).
//
// FinalSync needs a session with the process server: while there is none it waits, bounded by
// ctx. It fails at once when initial replication has not sent its first complete point.
func (a *Agent) FinalSync(ctx context.Context, shutdown bool) (FinalSyncResult, error) {
	if shutdown && a.cfg.Hooks.Shutdown == "" {
		return FinalSyncResult{}, errors.New("no shutdown hook is configured (hooks.shutdown)")
	}
	if a.replicationStopped() {
		return FinalSyncResult{}, errors.New("replication has stopped after a final sync with shutdown")
	}
	req := finalSyncReq{ctx: ctx, shutdown: shutdown, reply: make(chan finalSyncReply, 1)}
	select {
	case a.finalReq <- req:
	case <-ctx.Done():
		st := a.mon.snapshot()
		if !st.Connected {
			msg := fmt.Sprintf("not connected to the process server %s", a.cfg.ProcessServer)
			if st.LastError != "" {
				msg += ": " + st.LastError
			}
			return FinalSyncResult{}, errors.New(msg)
		}
		if st.LastError != "" { // connected, but the loop did not come round to it (points failing)
			return FinalSyncResult{}, fmt.Errorf("final sync not started: %w (last error: %s)", ctx.Err(), st.LastError)
		}
		return FinalSyncResult{}, fmt.Errorf("final sync not started: %w", ctx.Err())
	}
	select {
	case r := <-req.reply:
		return r.res, r.err
	case <-ctx.Done():
		return FinalSyncResult{}, fmt.Errorf("final sync: %w", ctx.Err())
	}
}

// finalSync runs one final sync inside the session loop. It answers req in every case; the
// error it returns ends the session (the capture failed half way), nil lets it go on.
func (a *Agent) finalSync(ctx context.Context, s *session, req finalSyncReq) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(req.ctx, cancel)
	defer stop()
	answer := func(res FinalSyncResult, err error) { req.reply <- finalSyncReply{res, err} }
	if !a.initialDone() && !a.completeSent {
		err := fmt.Errorf("initial replication is not complete (%.1f%%): a final sync needs a complete point", a.mon.snapshot().InitialPercent)
		answer(FinalSyncResult{}, err)
		return nil
	}
	a.mon.event("final-sync", "info", "final sync requested", "shutdown", strconv.FormatBool(req.shutdown))
	if req.shutdown {
		a.stMu.Lock()
		next := a.st.NextSeq
		a.stMu.Unlock()
		if err := a.runShutdownHook(ctx, next); err != nil {
			a.mon.event("final-sync-failed", "alert", "final sync failed: "+err.Error())
			answer(FinalSyncResult{}, err)
			return nil
		}
	}
	kind := wire.KindCrash
	if a.cfg.Hooks.PreFreeze != "" && !req.shutdown {
		kind = wire.KindApp
	}
	before := a.rep.newest()
	// A tracking gap makes capture schedule a resync and take no point: resync, then capture once
	// more.
	for attempt := 0; attempt < 2 && a.rep.newest() == before; attempt++ {
		if reason := a.takeResync(); reason != "" {
			if err := a.resync(ctx, s, reason); err != nil {
				a.needResync(reason)
				answer(FinalSyncResult{}, fmt.Errorf("resynchronise before the final point: %w", err))
				return err
			}
		}
		if err := a.capture(ctx, s, kind); err != nil {
			if errors.Is(err, errFreezeExpired) {
				err = fmt.Errorf("the freeze outlasted its bound of %s: point dropped", a.cfg.FreezeTimeout)
			} else {
				err = fmt.Errorf("capture the final point: %w", err)
			}
			a.mon.event("final-sync-failed", "alert", "final sync failed: "+err.Error())
			answer(FinalSyncResult{}, err)
			return err
		}
	}
	seq := a.rep.newest()
	if seq == before {
		err := errors.New("no final point could be taken (tracking gaps)")
		answer(FinalSyncResult{}, err)
		return nil
	}
	res, err := a.waitSeqCommitted(ctx, s, seq)
	if err != nil {
		err = fmt.Errorf("wait for the commit of the final point (seq %d): %w", seq, err)
		a.mon.event("final-sync-failed", "alert", "final sync failed: "+err.Error())
		answer(FinalSyncResult{}, err)
		return err
	}
	a.mon.event("final-sync-committed", "info", "final point committed", "seq", strconv.FormatUint(seq, 10), "point", res.PointID,
		"shutdown", strconv.FormatBool(req.shutdown))
	if !req.shutdown {
		answer(res, nil)
		return nil
	}
	res.Stopped = true
	if err := a.markStopped(res); err != nil {
		a.log.Error("record the stop after the final sync", "err", err)
	}
	answer(res, nil)
	return errFinalStop
}

// waitSeqCommitted waits until the agent state says seq (or later) is committed.
func (a *Agent) waitSeqCommitted(ctx context.Context, s *session, seq uint64) (FinalSyncResult, error) {
	tick := time.NewTicker(50 * time.Millisecond) // the state moves just after the replica's notify
	defer tick.Stop()
	for {
		ch := a.rep.wait()
		a.stMu.Lock()
		committed, id, at := a.st.CommittedSeq, a.st.PointID, a.st.CaptureTime
		a.stMu.Unlock()
		if committed >= seq {
			return FinalSyncResult{Seq: committed, PointID: id, CaptureTime: at}, nil
		}
		select {
		case <-ctx.Done():
			return FinalSyncResult{}, ctx.Err()
		case <-s.dead:
			return FinalSyncResult{}, s.failure()
		case <-ch:
		case <-tick.C:
		}
	}
}

// markStopped writes stoppedFile (fsynced) and the agent state.
func (a *Agent) markStopped(res FinalSyncResult) error {
	body := fmt.Sprintf("seq %d point %s at %s\n", res.Seq, res.PointID, a.clock.Now().UTC().Format(time.RFC3339))
	p := filepath.Join(a.cfg.StateDir, stoppedFile)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// replicationStopped reports whether a final sync with shutdown stopped replication.
func (a *Agent) replicationStopped() bool {
	_, err := os.Stat(filepath.Join(a.cfg.StateDir, stoppedFile))
	return err == nil
}

// idleStopped is Run after a final sync with shutdown: no replication, the state says stopped,
// until ctx ends.
func (a *Agent) idleStopped(ctx context.Context) error {
	a.mon.update(func(s *Status) { s.State, s.Connected = StateStopped, false })
	a.mon.event("replication-stopped", "info", "replication stopped after a final sync with shutdown (remove "+
		filepath.Join(a.cfg.StateDir, stoppedFile)+" to replicate again)")
	<-ctx.Done()
	a.stMu.Lock()
	a.st.Running = false
	err := state.SaveAgent(a.cfg.StateDir, a.st)
	a.stMu.Unlock()
	return err
}
