package processserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/wire"
)

// errBadPoint marks a point the store cannot take as described (for example, a base that was
// never committed): it is dropped, not retried.
var errBadPoint = errors.New("point cannot be committed")

// uploadPoint writes a cached point into the store while it may still be arriving, and commits it
// once its EndPoint is durable. On any error the writer is aborted; nothing is visible.
func (s *Server) uploadPoint(ctx context.Context, m *machine, q *qpoint) (*store.Point, error) {
	r, err := q.open()
	if err != nil {
		if q.dropped.Load() {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", errCorruptCache, err)
	}
	defer func() {
		q.fromMemory.Store(r.FromMemory)
		q.fromFile.Store(r.FromFile)
		r.Close()
	}()
	var pc pointCheck
	f, err := r.next()
	if err != nil {
		return nil, err
	}
	if err := pc.add(f); err != nil {
		return nil, fmt.Errorf("%w: %w", errCorruptCache, err)
	}
	bp := pc.begin
	var parent *store.Point
	if bp.Base != 0 {
		m.mu.Lock()
		id, ok := m.committed[bp.Base]
		m.mu.Unlock()
		if !ok {
			return nil, fmt.Errorf("%w: base seq %d of seq %d is not committed", errBadPoint, bp.Base, bp.Seq)
		}
		if parent, err = s.repo.LoadPoint(ctx, id); errors.Is(err, store.ErrNoPoint) {
			return nil, fmt.Errorf("%w: the store point %s of base seq %d is gone: %w", errBadPoint, id, bp.Base, err)
		} else if err != nil {
			return nil, fmt.Errorf("load parent point %s: %w", id, err)
		}
	}
	specs := make([]store.DiskSpec, len(bp.Disks))
	for i, d := range bp.Disks {
		specs[i] = store.DiskSpec{Name: d.Name, Size: d.Size}
	}
	w, err := s.repo.NewWriter(ctx, m.name, parent, specs)
	if err != nil {
		return nil, err
	}
	defer w.Abort() // after Commit it does nothing
	ap := newApplier(0, func(n int64) {
		m.bytesUp.Add(n)
		s.met.uploaded.Add(float64(n))
	})
	defer ap.wait() // before Abort: no write runs into an aborted writer
	for !pc.ended {
		f, err := r.next()
		if err == io.EOF {
			return nil, fmt.Errorf("%w of seq %d: no EndPoint", errCorruptCache, q.seq)
		}
		if err != nil {
			return nil, err
		}
		add := pc.add
		if r.Trusted {
			add = pc.addChecked
		}
		if err := add(f); err != nil {
			return nil, fmt.Errorf("%w of seq %d: %w", errCorruptCache, q.seq, err)
		}
		switch f.Type {
		case wire.TypeBlocks:
			dw := w.Disk(pc.bl.Disk)
			off := int64(pc.bl.First) * wire.BlockSize
			data := pc.bl.Data[:min(int64(len(pc.bl.Data)), dw.Size()-off)]
			if err := ap.write(pc.bl.Disk, dw, off, data); err != nil {
				return nil, err
			}
		case wire.TypeZero:
			dw := w.Disk(pc.z.Disk)
			off := int64(pc.z.First) * wire.BlockSize
			n := min(int64(pc.z.Count)*wire.BlockSize, dw.Size()-off)
			if err := ap.zero(pc.z.Disk, dw, off, n); err != nil {
				return nil, err
			}
		}
	}
	if err := ap.wait(); err != nil {
		return nil, err
	}
	// Commit only once the point is durable in the cache.
	select {
	case <-q.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if !q.durable.Load() {
		return nil, fmt.Errorf("point %d was dropped before it was durable", q.seq)
	}
	capture := bp.Time
	if !pc.end.CaptureTime.IsZero() {
		capture = pc.end.CaptureTime
	}
	meta := store.CommitMeta{Time: capture, Labels: map[string]string{SeqLabel: strconv.FormatUint(bp.Seq, 10)}}
	switch bp.Kind {
	case wire.KindPartial:
		meta.Partial, meta.Consistency = true, store.NoConsistency
		for d, n := range pc.end.Initial {
			meta.Labels[InitialLabelPrefix+d] = strconv.FormatInt(n, 10)
		}
	case wire.KindApp:
		meta.Consistency = store.AppConsistent
	default:
		meta.Consistency = store.CrashConsistent
	}
	return w.Commit(ctx, meta)
}
