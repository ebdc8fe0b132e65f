package mobility

import (
	"fmt"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/mobility/state"
	"github.com/opensiterecovery/osr/internal/mobility/tracker"
	"github.com/opensiterecovery/osr/internal/wire"
)

// point is a point the agent has begun sending and the process server has not yet committed.
type point struct {
	seq, base uint64
	kind      wire.Kind
	time      time.Time
	// overlay holds, per disk, the fingerprints of the blocks this point changes (the zero
	// fingerprint: the block now reads as zeros).
	overlay map[string]*overlay
	// dirty is the tracker's candidates this point consumed (nil for "all"), returned to the
	// tracking if the point is dropped.
	dirty map[string]*tracker.Bitmap
	// cursor is, for a partial point, the initial replication's position on each disk after it.
	cursor  map[string]int64
	bytes   int64 // bytes of block data sent
	ended   bool  // EndPoint sent
	durable bool  // Durable received
}

// replica is what the agent knows of the replica: the map of each disk at the newest committed
// point, and the in-flight points on top of it. It is safe for concurrent use.
type replica struct {
	mu       sync.Mutex
	maps     map[string]*state.Map
	inflight []*point // in seq order
	changed  chan struct{}
}

func newReplica(maps map[string]*state.Map) *replica {
	return &replica{maps: maps, changed: make(chan struct{})}
}

// notify wakes everything waiting for a change of the in-flight list. Caller holds mu.
func (r *replica) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// wait returns a channel closed at the next change.
func (r *replica) wait() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// lookup returns the fingerprint block i of disk has in the newest state sent: the newest
// in-flight point that changes it, else the committed map.
func (r *replica) lookup(disk string, i int64) tracker.Fingerprint {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := len(r.inflight) - 1; k >= 0; k-- {
		if ov := r.inflight[k].overlay[disk]; ov != nil {
			if fp, ok := ov.get(i); ok {
				return fp
			}
		}
	}
	return r.maps[disk].Fingerprints[i]
}

// record notes that the point changes block i of disk to fp.
func (r *replica) record(p *point, disk string, first int64, fps []tracker.Fingerprint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p.overlayOf(disk).set(first, fps)
}

func (r *replica) recordZero(p *point, disk string, first, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p.overlayOf(disk).setZero(first, n)
}

// overlayOf returns the point's overlay of disk, making it. Caller holds the replica's lock.
func (p *point) overlayOf(disk string) *overlay {
	ov := p.overlay[disk]
	if ov == nil {
		ov = &overlay{}
		p.overlay[disk] = ov
	}
	return ov
}

// add appends a new in-flight point.
func (r *replica) add(p *point) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight = append(r.inflight, p)
	r.notify()
}

// newest returns the seq of the newest state sent (the base of the next point).
func (r *replica) newest() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.inflight); n > 0 {
		return r.inflight[n-1].seq
	}
	return r.committedSeqLocked()
}

func (r *replica) committedSeqLocked() uint64 {
	for _, m := range r.maps {
		return m.Seq
	}
	return 0
}

// pending returns the in-flight points (a copy of the list).
func (r *replica) pending() []*point {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*point(nil), r.inflight...)
}

// backlog returns the bytes sent but not committed.
func (r *replica) backlog() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, p := range r.inflight {
		n += p.bytes
	}
	return n
}

// markDurable records Durable for seq.
func (r *replica) markDurable(seq uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.inflight {
		if p.seq <= seq && p.ended {
			p.durable = true
		}
	}
	r.notify()
}

// commit applies every in-flight point up to seq to the maps (the only place the maps change
// for a point) and returns the points applied. The maps then reflect seq and pointID.
func (r *replica) commit(seq uint64, pointID string) []*point {
	r.mu.Lock()
	defer r.mu.Unlock()
	var done []*point
	for len(r.inflight) > 0 && r.inflight[0].seq <= seq {
		p := r.inflight[0]
		if !p.ended {
			break // a point still being sent cannot be committed
		}
		for disk, ov := range p.overlay {
			m := r.maps[disk]
			ov.each(func(i int64, fp tracker.Fingerprint) { m.Fingerprints[i] = fp })
		}
		done = append(done, p)
		r.inflight = r.inflight[1:]
	}
	if len(done) > 0 && done[len(done)-1].seq == seq {
		for _, m := range r.maps {
			m.Seq, m.PointID = seq, pointID
		}
	}
	r.notify()
	return done
}

// drop removes the in-flight points above keep (the process server will not commit them) and
// returns them, newest last.
func (r *replica) drop(keep uint64) []*point {
	r.mu.Lock()
	defer r.mu.Unlock()
	var dropped []*point
	k := len(r.inflight)
	for k > 0 && (r.inflight[k-1].seq > keep || !r.inflight[k-1].ended) {
		k--
	}
	dropped = append(dropped, r.inflight[k:]...)
	r.inflight = r.inflight[:k]
	r.notify()
	return dropped
}

// save persists the maps without copying them: each is written under the lock, fsynced after.
func (r *replica) save(dir string) error {
	r.mu.Lock()
	names := make([]string, 0, len(r.maps))
	for n := range r.maps {
		names = append(names, n)
	}
	r.mu.Unlock()
	var first error
	for _, n := range names {
		r.mu.Lock()
		if err := state.SaveMapLocked(dir, r.maps[n], r.mu.Unlock); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// setMap replaces a disk's map (after a resync fetched the replica's fingerprints).
func (r *replica) setMap(m *state.Map) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.inflight) > 0 {
		return fmt.Errorf("replace map of %s: %d points in flight", m.Disk, len(r.inflight))
	}
	r.maps[m.Disk] = m
	return nil
}

// bytes is the memory the maps and overlays hold, roughly.
func (r *replica) bytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, m := range r.maps {
		n += m.Bytes()
	}
	for _, p := range r.inflight {
		for _, ov := range p.overlay {
			n += ov.bytes()
		}
	}
	return n
}
