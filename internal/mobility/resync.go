package mobility

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/opensiterecovery/osr/internal/mobility/state"
	"github.com/opensiterecovery/osr/internal/mobility/tracker"
	"github.com/opensiterecovery/osr/internal/wire"
)

// fetchTimeout bounds the wait for one Fingerprints answer.
const fetchTimeout = 5 * time.Minute

var zeroHash = tracker.HashOf(make([]byte, tracker.BlockSize))

// waitCommitted waits until no point is in flight (the PS commits every cached point first).
func (a *Agent) waitCommitted(ctx context.Context, s *session) error {
	for {
		ch := a.rep.wait()
		if len(a.rep.pending()) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.dead:
			return s.failure()
		case <-ch:
		}
	}
}

// fetch reads the replica's fingerprints of a disk at the newest committed point.
func (a *Agent) fetch(ctx context.Context, s *session, d *sourceDisk) (*state.Map, error) {
	m := state.NewMap(d.name, d.Size())
	m.Seq = a.psCommitted.Load()
	if m.Seq == 0 { // nothing committed: the replica is the empty disk
		return m, nil
	}
	n := int64(len(m.Fingerprints))
	for first := int64(0); first < n; {
		count := min(n-first, wire.MaxFingerprints)
		if err := s.wc.Send(wire.FingerprintsRequest{Disk: d.name, First: uint64(first), Count: uint64(count)}); err != nil {
			return nil, fmt.Errorf("ask for fingerprints of %s: %w", d.name, err)
		}
		var r wire.Fingerprints
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.dead:
			return nil, s.failure()
		case <-time.After(fetchTimeout):
			return nil, fmt.Errorf("no fingerprints of %s from the process server within %v", d.name, fetchTimeout)
		case r = <-s.fps:
		}
		got := int64(len(r.Fingerprints) / wire.FingerprintSize)
		if r.Disk != d.name || r.First != uint64(first) || got != count {
			return nil, fmt.Errorf("asked for fingerprints of %s %d+%d, got %s %d+%d", d.name, first, count, r.Disk, r.First, got)
		}
		for i := range got {
			var fp tracker.Fingerprint
			copy(fp[:], r.Fingerprints[i*16:])
			if fp == zeroHash {
				fp = tracker.Fingerprint{}
			}
			m.Fingerprints[first+i] = fp
		}
		m.PointID = r.Point
		first += count
	}
	return m, nil
}

// resync replaces the replica maps by the replica's own fingerprints; the next point then sends
// exactly the blocks where the source differs from the replica.
func (a *Agent) resync(ctx context.Context, s *session, reason string) error {
	a.mon.update(func(st *Status) { st.State = StateResynchronising; st.Resyncs++ })
	a.mon.event("resync", "warning", "resynchronising with the replica: "+reason, "reason", reason)
	if err := a.waitCommitted(ctx, s); err != nil {
		return err
	}
	var fetched []*state.Map
	for _, d := range a.disks {
		m, err := a.fetch(ctx, s, d)
		if err != nil {
			return err
		}
		fetched = append(fetched, m)
	}
	if err := a.install(fetched); err != nil {
		return err
	}
	if a.psCommitted.Load() == 0 {
		// The replica holds nothing (a new vault, or its points were deleted): start initial
		// replication over, in partial points, instead of one point of the whole disks.
		a.stMu.Lock()
		a.st.InitialDone, a.st.Initial = false, nil
		a.stMu.Unlock()
		clear(a.cursor)
		a.completeSent = false
		a.updateInitialPercent()
	}
	a.forceAll, a.resyncCount = true, reason
	clear(a.carry)
	return nil
}

// install makes fetched maps the replica maps and persists them.
func (a *Agent) install(fetched []*state.Map) error {
	for _, m := range fetched {
		if err := a.rep.setMap(m); err != nil {
			return err
		}
		if err := state.SaveMap(a.cfg.StateDir, m); err != nil {
			return err
		}
	}
	a.stMu.Lock()
	defer a.stMu.Unlock()
	if len(fetched) > 0 {
		a.st.CommittedSeq, a.st.PointID = fetched[0].Seq, fetched[0].PointID
		if a.st.NextSeq <= a.st.CommittedSeq {
			a.st.NextSeq = a.st.CommittedSeq + 1
		}
	}
	return state.SaveAgent(a.cfg.StateDir, a.st)
}

// VerifyResult is what a verification found.
type VerifyResult struct {
	Seq   uint64 `json:"seq"`
	Point string `json:"point"`
	// Blocks compared over all disks.
	Blocks int64 `json:"blocks"`
	// MapDivergent counts blocks where the replica differs from what the agent believes it holds:
	// damage or loss on the replica side. Any is an alert, and the blocks are resent.
	MapDivergent int64 `json:"map_divergent_blocks"`
	// SourceDiffers counts blocks where the source differs from the replica: changes not yet
	// replicated while the disk is in use, or divergence when it is quiet.
	SourceDiffers int64            `json:"source_differs_blocks"`
	Disks         map[string]int64 `json:"source_differs_by_disk"`
}

type verifyReply struct {
	res VerifyResult
	err error
}

// verify compares the replica's newest point with the agent's maps and with the source.
// With install, a divergence replaces the maps by the replica's fingerprints (a resync).
func (a *Agent) verify(ctx context.Context, s *session, install bool) (VerifyResult, error) {
	res := VerifyResult{Disks: map[string]int64{}}
	if err := a.waitCommitted(ctx, s); err != nil {
		return res, err
	}
	var fetched []*state.Map
	for _, d := range a.disks {
		m, err := a.fetch(ctx, s, d)
		if err != nil {
			return res, err
		}
		fetched = append(fetched, m)
		res.Seq, res.Point = m.Seq, m.PointID
		a.rep.mu.Lock()
		mine := a.rep.maps[d.name]
		for i, fp := range m.Fingerprints {
			if mine.Fingerprints[i] != fp {
				res.MapDivergent++
			}
		}
		a.rep.mu.Unlock()
		n, err := differs(ctx, d, m, a.readBuf)
		if err != nil {
			return res, err
		}
		res.Disks[d.name] = n
		res.SourceDiffers += n
		res.Blocks += int64(len(m.Fingerprints))
	}
	now := a.clock.Now()
	a.mon.update(func(st *Status) { st.LastVerify, st.VerifyDivergent = now, res.MapDivergent })
	attrs := []string{"seq", strconv.FormatUint(res.Seq, 10), "blocks", strconv.FormatInt(res.Blocks, 10),
		"map_divergent", strconv.FormatInt(res.MapDivergent, 10), "source_differs", strconv.FormatInt(res.SourceDiffers, 10)}
	if res.MapDivergent == 0 {
		a.mon.event("verify", "info", "verify: the replica holds what the agent sent", attrs...)
		return res, nil
	}
	a.mon.event("verify-divergence", "alert", fmt.Sprintf("verify: %d blocks of the replica differ from what the agent sent", res.MapDivergent), attrs...)
	if !install {
		return res, nil
	}
	if err := a.install(fetched); err != nil {
		return res, err
	}
	a.forceAll = true
	a.resyncCount = fmt.Sprintf("verify found %d divergent blocks", res.MapDivergent)
	return res, nil
}

// differs counts the blocks of the source that differ from m.
func differs(ctx context.Context, d *sourceDisk, m *state.Map, buf []byte) (int64, error) {
	st, err := tracker.Compare(ctx, d, tracker.Changes{All: true}, tracker.CompareOptions{
		Buffer:  buf,
		Base:    func(i int64) tracker.Fingerprint { return m.Fingerprints[i] },
		Changed: func(int64, []byte, []tracker.Fingerprint) error { return nil },
		Zeroed:  func(int64, int64) error { return nil },
	})
	if err != nil {
		return 0, fmt.Errorf("verify disk %s: %w", d.name, err)
	}
	return st.Changed + st.Zeroed, nil
}

// ErrDivergent is returned by VerifyOnce when the replica differs from the source or the map.
var ErrDivergent = errors.New("replica diverges")

// VerifyOnce connects, compares the replica's newest point with the source and the agent's
// maps, and disconnects. Use it when the service is not running.
func (a *Agent) VerifyOnce(ctx context.Context) (VerifyResult, error) {
	dctx, cancel := context.WithTimeout(ctx, helloTimeout)
	conn, err := a.opts.Dial(dctx)
	cancel()
	if err != nil {
		return VerifyResult{}, fmt.Errorf("connect to %s: %w", a.cfg.ProcessServer, err)
	}
	defer conn.Close()
	s := &session{conn: conn, wc: wire.NewConn(conn, wire.Options{}), fps: make(chan wire.Fingerprints, 1), dead: make(chan struct{})}
	if err := a.hello(s); err != nil {
		return VerifyResult{}, err
	}
	a.reconcile(s.welcome)
	go func() {
		defer close(s.dead)
		s.fail(a.read(s))
	}()
	res, err := a.verify(ctx, s, false)
	conn.Close()
	<-s.dead
	if err == nil && (res.MapDivergent > 0 || res.SourceDiffers > 0) {
		err = fmt.Errorf("%w: %d blocks differ from the source, %d from the agent's map (seq %d)", ErrDivergent, res.SourceDiffers, res.MapDivergent, res.Seq)
	}
	return res, err
}
