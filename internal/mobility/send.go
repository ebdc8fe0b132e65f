package mobility

import (
	"context"
	"fmt"

	"github.com/opensiterecovery/osr/internal/mobility/state"
	"github.com/opensiterecovery/osr/internal/mobility/tracker"
	"github.com/opensiterecovery/osr/internal/wire"
)

// sender writes one point's frames and records what the point changes.
type sender struct {
	a      *Agent
	s      *session
	p      *point
	fpBuf  []byte
	blocks uint64
	zeroed uint64
}

// begin allocates the next seq (persisted first: a seq is never reused), registers the point as
// in flight and sends BeginPoint.
func (a *Agent) begin(ctx context.Context, s *session, kind wire.Kind) (*sender, error) {
	if err := a.waitInFlight(ctx, s); err != nil {
		return nil, err
	}
	a.stMu.Lock()
	seq := a.st.NextSeq
	a.st.NextSeq++
	err := state.SaveAgent(a.cfg.StateDir, a.st)
	a.stMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("save agent state: %w", err)
	}
	p := &point{seq: seq, base: a.rep.newest(), kind: kind, time: a.clock.Now(),
		overlay: map[string]*overlay{}, dirty: map[string]*tracker.Bitmap{}}
	a.rep.add(p)
	if err := s.wc.Send(wire.BeginPoint{Seq: p.seq, Base: p.base, Kind: kind, Time: p.time, Disks: a.wireDisks()}); err != nil {
		return nil, fmt.Errorf("send begin point %d: %w", seq, err)
	}
	return &sender{a: a, s: s, p: p}, nil
}

// waitInFlight waits until fewer than MaxInFlight points are uncommitted.
func (a *Agent) waitInFlight(ctx context.Context, s *session) error {
	for {
		ch := a.rep.wait()
		if len(a.rep.pending()) < a.opts.MaxInFlight {
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

// blocks sends a run of changed blocks (data holds len(fps) blocks) in frames of at most
// MaxBlocksPerFrame blocks, under the bandwidth cap.
func (sd *sender) send(ctx context.Context, disk string, first int64, data []byte, fps []tracker.Fingerprint) error {
	for len(fps) > 0 {
		n := min(len(fps), wire.MaxBlocksPerFrame)
		sd.fpBuf = sd.fpBuf[:0]
		for _, fp := range fps[:n] {
			sd.fpBuf = append(sd.fpBuf, fp[:]...)
		}
		b := data[:n*tracker.BlockSize]
		if err := sd.a.lim.Wait(ctx, len(b)); err != nil {
			return err
		}
		if err := sd.s.wc.Queue(wire.Blocks{Seq: sd.p.seq, Disk: disk, First: uint64(first), Fingerprints: sd.fpBuf, Data: b}); err != nil {
			return fmt.Errorf("send blocks of %s: %w", disk, err)
		}
		sd.a.rep.record(sd.p, disk, first, fps[:n])
		sd.a.rep.mu.Lock()
		sd.p.bytes += int64(len(b))
		sd.a.rep.mu.Unlock()
		sd.a.mon.sent(int64(len(b)))
		sd.blocks += uint64(n)
		first += int64(n)
		data, fps = data[len(b):], fps[n:]
	}
	return nil
}

// zero sends a Zero frame.
func (sd *sender) zero(disk string, first, n int64) error {
	if err := sd.s.wc.Queue(wire.Zero{Seq: sd.p.seq, Disk: disk, First: uint64(first), Count: uint64(n)}); err != nil {
		return fmt.Errorf("send zero of %s: %w", disk, err)
	}
	sd.a.rep.recordZero(sd.p, disk, first, n)
	sd.zeroed += uint64(n)
	return nil
}

// end sends EndPoint and flushes.
func (sd *sender) end(initial map[string]int64) error {
	// The capture instant: for a point taken under a freeze, the freeze, later than BeginPoint's time.
	m := wire.EndPoint{Seq: sd.p.seq, Blocks: sd.blocks, Zeroed: sd.zeroed, Initial: initial, CaptureTime: sd.p.time}
	sd.a.rep.mu.Lock()
	sd.p.ended = true
	sd.a.rep.mu.Unlock()
	if err := sd.s.wc.Send(m); err != nil {
		return fmt.Errorf("send end point %d: %w", sd.p.seq, err)
	}
	return nil
}

// compareDisk runs a comparison of a disk against the newest state sent, sending what differs.
// changed and zeroed replace sending (nil: send).
func (sd *sender) compareDisk(ctx context.Context, d *sourceDisk, c tracker.Changes, from int64,
	changed func(first int64, data []byte, fps []tracker.Fingerprint) error, zeroed func(first, n int64) error) (tracker.CompareStats, error) {
	rep := sd.a.rep
	if changed == nil {
		changed = func(first int64, data []byte, fps []tracker.Fingerprint) error {
			return sd.send(ctx, d.name, first, data, fps)
		}
	}
	if zeroed == nil {
		zeroed = func(first, n int64) error { return sd.zero(d.name, first, n) }
	}
	return tracker.Compare(ctx, d, c, tracker.CompareOptions{
		Base:    func(i int64) tracker.Fingerprint { return rep.lookup(d.name, i) },
		Changed: changed,
		Zeroed:  zeroed,
		From:    from,
		Buffer:  sd.a.readBuf,
	})
}
