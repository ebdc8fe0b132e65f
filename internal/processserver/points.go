package processserver

import (
	"context"
	"fmt"
	"os"

	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/wire"
)

// What a session does with the frames of a point, and with Fingerprints? requests.

func (ss *session) begin(f wire.Frame) error {
	if ss.open != nil {
		return protoErr("BeginPoint while point %d is open", ss.open.seq)
	}
	ss.pc = pointCheck{}
	if err := ss.pc.add(f); err != nil {
		return &sessionError{wire.ErrCodeProtocol, err}
	}
	bp := ss.pc.begin
	m := ss.m
	m.mu.Lock()
	durable := m.durableSeq()
	baseOK := bp.Base == 0 || m.known(bp.Base)
	m.mu.Unlock()
	if bp.Seq <= durable {
		return &sessionError{wire.ErrCodeSequence, fmt.Errorf("point seq %d is not above the newest durable seq %d", bp.Seq, durable)}
	}
	if !baseOK {
		return &sessionError{wire.ErrCodeSequence, fmt.Errorf("base seq %d of point %d is neither committed nor durable here", bp.Base, bp.Seq)}
	}
	dir := ss.s.cache.machineDir(m.name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return &sessionError{wire.ErrCodeInternal, err}
	}
	q := newQpoint(dir, bp.Seq, bp.Base, nil)
	sp, err := createSpool(q.partPath(), ss.s.cache.mem)
	if err != nil {
		return &sessionError{wire.ErrCodeInternal, fmt.Errorf("cache: %w", err)}
	}
	q.sp = sp
	ss.open, ss.sinceSync = q, 0
	if err := ss.appendFrame(f); err != nil {
		return err
	}
	m.mu.Lock()
	m.enqueue(q)
	m.mu.Unlock()
	ss.log.Debug("point begins", "seq", bp.Seq, "base", bp.Base, "kind", bp.Kind)
	return nil
}

func (ss *session) appendFrame(f wire.Frame) error {
	q := ss.open
	unsynced, err := q.sp.Append(f.Raw)
	if err != nil {
		return &sessionError{wire.ErrCodeInternal, err}
	}
	n := int64(len(f.Raw))
	if after := q.size.Add(n); after >= pipelineMin && after-n < pipelineMin {
		ss.m.mu.Lock()
		ss.m.changed.Broadcast() // the uploader may start on it now
		ss.m.mu.Unlock()
	}
	ss.s.cache.used.Add(n)
	ss.m.bytesIn.Add(n)
	ss.s.met.received.Add(float64(n))
	if unsynced >= ss.s.cfg.Cache.SyncBytes {
		if err := q.sp.Sync(); err != nil {
			return &sessionError{wire.ErrCodeInternal, err}
		}
	}
	return nil
}

// end makes the open point durable and says so.
func (ss *session) end() error {
	q := ss.open
	if err := q.sp.Finish(); err != nil {
		return &sessionError{wire.ErrCodeInternal, err}
	}
	if err := os.Rename(q.partPath(), q.pointPath()); err != nil {
		return &sessionError{wire.ErrCodeInternal, err}
	}
	if err := syncDir(q.dir); err != nil {
		return &sessionError{wire.ErrCodeInternal, err}
	}
	q.durable.Store(true)
	q.markReady()
	q.sp.Close()
	ss.open = nil
	ss.m.mu.Lock()
	ss.m.changed.Broadcast()
	ss.m.mu.Unlock()
	ss.post(wire.Durable{Seq: q.seq})
	ss.log.Info("point durable", "seq", q.seq, "bytes", q.size.Load())
	return nil
}

// fingerprints answers from the newest committed point, once every cached point is committed.
func (ss *session) fingerprints(ctx context.Context, req wire.FingerprintsRequest) error {
	if ss.open != nil {
		return protoErr("Fingerprints? while point %d is open", ss.open.seq)
	}
	if err := ss.m.waitDrained(ctx); err != nil {
		return err
	}
	ss.m.mu.Lock()
	id := ss.m.committed[ss.m.newest]
	ss.m.mu.Unlock()
	out := make([][store.FingerprintSize]byte, req.Count)
	zero := store.ZeroFingerprint()
	for i := range out {
		out[i] = zero
	}
	if id != "" {
		pt, err := ss.s.repo.LoadPoint(ctx, id)
		if err != nil {
			return &sessionError{wire.ErrCodeInternal, err}
		}
		if _, ok := pt.Disk(req.Disk); ok {
			dr, err := ss.s.repo.OpenDisk(pt, req.Disk)
			if err != nil {
				return &sessionError{wire.ErrCodeInternal, err}
			}
			if err := dr.Fingerprints(ctx, int64(req.First), out); err != nil {
				return &sessionError{wire.ErrCodeProtocol, err}
			}
		}
	}
	b := make([]byte, 0, len(out)*store.FingerprintSize)
	for _, fp := range out {
		b = append(b, fp[:]...)
	}
	ss.post(wire.Fingerprints{Disk: req.Disk, First: req.First, Point: id, Fingerprints: b})
	return nil
}
