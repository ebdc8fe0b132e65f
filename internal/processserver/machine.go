package processserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/wire"
)

// SeqLabel is the store point label holding the agent's seq of a point.
const SeqLabel = "osr.seq"

// InitialLabelPrefix + disk holds a partial point's bytes copied so far.
const InitialLabelPrefix = "osr.initial."

// qpoint is a point of a machine in the cache, not yet committed.
type qpoint struct {
	seq, base uint64
	dir       string
	sp        *spool // set while the point arrives on a connection; nil when replayed
	durable   atomic.Bool
	dropped   atomic.Bool
	size      atomic.Int64
	// fromMemory and fromFile count what the newest upload read from memory and from the file.
	fromMemory, fromFile atomic.Int64
	ready                chan struct{} // closed once durable or dropped
	readyOnce            sync.Once
}

func newQpoint(dir string, seq, base uint64, sp *spool) *qpoint {
	return &qpoint{dir: dir, seq: seq, base: base, sp: sp, ready: make(chan struct{})}
}

func (q *qpoint) partPath() string {
	return filepath.Join(q.dir, strconv.FormatUint(q.seq, 10)+partExt)
}
func (q *qpoint) pointPath() string {
	return filepath.Join(q.dir, strconv.FormatUint(q.seq, 10)+pointExt)
}

// open opens the point's file under whichever name it has now.
func (q *qpoint) open() (*frameReader, error) {
	first, second := q.partPath(), q.pointPath()
	if q.durable.Load() {
		first, second = second, first
	}
	r, err := openFrameReader(first, q.sp)
	if errors.Is(err, fs.ErrNotExist) {
		r, err = openFrameReader(second, q.sp)
	}
	return r, err
}

func (q *qpoint) markReady() { q.readyOnce.Do(func() { close(q.ready) }) }

func (q *qpoint) remove() {
	os.Remove(q.partPath())
	os.Remove(q.pointPath())
}

// machine is what the server knows of one protected machine.
type machine struct {
	s    *Server
	name string

	mu        sync.Mutex
	changed   *sync.Cond        // queue or committed changed
	committed map[uint64]string // seq → store point ID, from the store and our commits
	newest    uint64            // newest committed seq
	queue     []*qpoint         // in seq order
	sess      *session

	bytesIn, bytesUp atomic.Int64
	lastErr          atomic.Value // string
}

// load reads the machine's committed points from the store.
func (m *machine) load(ctx context.Context) error {
	pts, err := m.s.repo.Points(ctx, m.name)
	if err != nil {
		return fmt.Errorf("list points of %s: %w", m.name, err)
	}
	m.committed = map[uint64]string{}
	for _, p := range pts {
		seq, err := strconv.ParseUint(p.Labels[SeqLabel], 10, 64)
		if err != nil || seq == 0 {
			continue
		}
		m.committed[seq] = p.ID
		m.newest = max(m.newest, seq)
	}
	return nil
}

// durableSeq is the highest seq the server holds complete (committed or durable in the cache).
// Caller holds m.mu.
func (m *machine) durableSeq() uint64 {
	d := m.newest
	for _, q := range m.queue {
		if q.durable.Load() {
			d = max(d, q.seq)
		}
	}
	return d
}

// known reports whether seq is committed or durable in the cache. Caller holds m.mu.
func (m *machine) known(seq uint64) bool {
	if _, ok := m.committed[seq]; ok {
		return true
	}
	for _, q := range m.queue {
		if q.seq == seq && q.durable.Load() {
			return true
		}
	}
	return false
}

// pipelineMin is how much of a point must have arrived before its upload starts while it still
// arrives. Smaller points upload once durable, so that a slowly trickling point does not hold an
// upload worker; a point of changes past it (a 1% delta of a 2 GiB disk is 21 MB) overlaps its
// upload with its sending.
const pipelineMin = 8 << 20

// headReady reports whether the first queued point can start uploading. Caller holds m.mu.
func (m *machine) headReady() bool {
	if len(m.queue) == 0 {
		return false
	}
	q := m.queue[0]
	return q.durable.Load() || q.size.Load() >= pipelineMin
}

// enqueue adds a point. Caller holds m.mu.
func (m *machine) enqueue(q *qpoint) {
	m.queue = append(m.queue, q)
	m.changed.Broadcast()
}

// drop removes a point that will never complete and deletes its file.
func (m *machine) drop(q *qpoint, why error) {
	m.mu.Lock()
	for i, x := range m.queue {
		if x == q {
			m.queue = append(m.queue[:i:i], m.queue[i+1:]...)
			break
		}
	}
	m.changed.Broadcast()
	m.mu.Unlock()
	if q.dropped.Swap(true) {
		return
	}
	if q.sp != nil {
		q.sp.Fail(why)
	}
	q.markReady()
	q.remove()
	m.s.cache.used.Add(-q.size.Load())
	m.s.log.Info("dropped cached point", "machine", m.name, "seq", q.seq, "reason", why)
}

// uploader commits the machine's points in seq order, for as long as ctx lives.
func (m *machine) uploader(ctx context.Context) {
	backoff := time.Second
	for {
		m.mu.Lock()
		for !m.headReady() && ctx.Err() == nil {
			m.changed.Wait()
		}
		if ctx.Err() != nil {
			m.mu.Unlock()
			return
		}
		q := m.queue[0]
		m.mu.Unlock()

		select {
		case m.s.workers <- struct{}{}:
		case <-ctx.Done():
			return
		}
		start := m.s.clock.Now()
		pt, err := m.s.uploadPoint(ctx, m, q)
		<-m.s.workers
		if ctx.Err() != nil {
			return
		}
		switch {
		case q.dropped.Load():
			continue
		case errors.Is(err, errCorruptCache) || errors.Is(err, errBadPoint):
			m.setErr(err)
			m.s.log.Error("cached point cannot be committed", "machine", m.name, "seq", q.seq, "err", err)
			m.drop(q, err)
			continue
		case err != nil:
			m.setErr(err)
			m.s.noteStorageError(err)
			m.s.log.Warn("upload failed, retrying", "machine", m.name, "seq", q.seq, "err", err, "in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, time.Minute)
			continue
		}
		backoff = time.Second
		m.s.noteStorageOK()
		m.committedPoint(q, pt, m.s.clock.Now().Sub(start))
	}
}

func (m *machine) setErr(err error) {
	m.lastErr.Store(err.Error())
	m.s.lastErr.Store(fmt.Sprintf("%s: %v", m.name, err))
}

// committedPoint records a commit, frees the cache and tells the agent.
func (m *machine) committedPoint(q *qpoint, pt *store.Point, took time.Duration) {
	m.mu.Lock()
	m.committed[q.seq] = pt.ID
	m.newest = max(m.newest, q.seq)
	if len(m.queue) > 0 && m.queue[0] == q {
		m.queue = m.queue[1:]
	}
	sess := m.sess
	m.changed.Broadcast()
	m.mu.Unlock()
	q.remove()
	syncDir(m.s.cache.machineDir(m.name))
	m.s.cache.used.Add(-q.size.Load())
	m.s.gate.recheck()
	m.s.log.Info("committed point", "machine", m.name, "seq", q.seq, "point", pt.ID, "bytes", q.size.Load(),
		"took", took.Round(time.Millisecond), "read_from_memory", q.fromMemory.Load(), "read_from_file", q.fromFile.Load())
	if sess != nil {
		sess.post(wire.Committed{Seq: q.seq, Point: pt.ID, Time: pt.Committed})
	}
}

// waitDrained blocks until no point of the machine waits in the cache.
func (m *machine) waitDrained(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		m.mu.Lock()
		m.changed.Broadcast()
		m.mu.Unlock()
	})
	defer stop()
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.queue) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		m.changed.Wait()
	}
	return nil
}

// backlog is the bytes of the machine's points waiting for upload.
func (m *machine) backlog() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, q := range m.queue {
		n += q.size.Load()
	}
	return n
}
