package processserver

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"syscall"

	"github.com/opensiterecovery/osr/internal/directio"
)

// spoolChunk is the size of the aligned writes a spool makes.
const spoolChunk = 1 << 20

// spoolBuffers is how many chunks a spool fills ahead of its writes: the session goes on receiving
// while the disk writes the previous chunk (a session that waited for each write read its socket
// at the disk's latency, not at its speed).
const spoolBuffers = 2

// spool is a point's cache file being appended to. Where the file system allows it, it writes
// whole aligned 1 MiB chunks with O_DIRECT (the page cache costs this kind of machine seconds of CPU
// per GiB); Sync makes the chunks written so far durable, and Finish writes the partial tail padded
// to a block, fsyncs and cuts the file to its size. The writes are made by a goroutine of the
// spool's, in order, while the caller fills the next chunk. Readers only read below what
// waitReadable reports, which is always data the spool wrote.
//
// A written chunk stays in memory for the point's reader (the upload) until the reader has passed
// it, so that an upload that keeps up never reads the cache file back: it costs a disk read per
// byte, and on a disk that is busy with the writes the upload waited for it. The chunks beyond the
// spool's own spoolBuffers come from the cache's shared pool (cache.memory_bytes); when the pool is
// spent, the appender takes back its oldest kept chunk, and the reader reads that part from the
// file. Only written bytes are kept, so what a reader gets from memory is what the file holds.
type spool struct {
	path   string
	f      *os.File
	direct bool
	pool   *chunkPool // nil: no chunks beyond spoolBuffers
	buf    []byte     // the chunk being filled, from file offset base; aligned
	n      int
	base   int64 // file offset of buf[0]; a multiple of directio.Align when direct

	ops    chan spoolOp   // to the writer, in order
	writer sync.WaitGroup // the writer goroutine

	mu       sync.Mutex
	cond     *sync.Cond
	free     [][]byte    // chunk buffers not in use
	kept     []keptChunk // written chunks kept for readers, in file order
	nbufs    int         // own buffers made so far (at most spoolBuffers)
	extra    int         // buffers of the pool this spool holds
	readers  int         // readers attached now
	detached bool        // a reader was attached and none is now: keep nothing
	retired  bool        // closed with no reader: the pool's buffers are given back
	readable int64       // bytes readers may read
	unsynced int64
	done     bool  // finished (complete and durable) or failed
	failed   error // Fail's error, for readers
	werr     error // the first write or fsync error, for the appender
	closed   bool
}

// keptChunk is a written chunk still in memory: the file's bytes [off, off+n) are buf[:n].
type keptChunk struct {
	off int64
	n   int
	buf []byte
}

// spoolOp is one thing the writer does: write buf[:w] at off (readable becomes end after it; a
// chunk that is full, or the tail written by Finish, is then kept for readers), or fsync, or tell
// done when every earlier op is done.
type spoolOp struct {
	buf   []byte
	w     int
	off   int64
	end   int64
	full  bool
	tail  bool
	fsync bool
	done  chan error
}

// createSpool creates the file at path. pool may be nil.
func createSpool(path string, pool *chunkPool) (*spool, error) {
	s := &spool{path: path, pool: pool, ops: make(chan spoolOp, spoolBuffers+2)}
	s.cond = sync.NewCond(&s.mu)
	f, err := directio.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		s.f, s.direct = f, true
	} else {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		s.f = f
	}
	s.mu.Lock()
	s.buf = s.nextBufLocked()
	s.mu.Unlock()
	s.writer.Add(1)
	go s.write()
	return s, nil
}

// nextBufLocked returns a chunk buffer for the appender: a free one; else a new one while the
// spool has fewer than spoolBuffers of its own (a point that trickles in holds one); else one of
// the pool; else the oldest kept chunk; else it waits for the writer to finish one. Caller holds
// s.mu.
func (s *spool) nextBufLocked() []byte {
	for {
		if k := len(s.free); k > 0 {
			b := s.free[k-1]
			s.free = s.free[:k-1]
			return b
		}
		if s.nbufs < spoolBuffers {
			s.nbufs++
			return directio.AlignedBuffer(spoolChunk)
		}
		if b := s.pool.get(); b != nil {
			s.extra++
			return b
		}
		if len(s.kept) > 0 {
			b := s.kept[0].buf
			s.kept = s.kept[1:]
			return b
		}
		s.cond.Wait()
	}
}

// releaseLocked gives a buffer that nothing uses any more back: one of the pool's to the pool,
// one of the spool's own to its free list. Caller holds s.mu.
func (s *spool) releaseLocked(b []byte) {
	if s.extra > 0 && s.pool.owns(b) {
		s.extra--
		s.pool.put(b)
		return
	}
	s.free = append(s.free, b)
	s.cond.Broadcast()
}

// dropKeptLocked releases the kept chunks that end at or before off (math.MaxInt64: all of them).
// Caller holds s.mu.
func (s *spool) dropKeptLocked(off int64) {
	i := 0
	for i < len(s.kept) && s.kept[i].off+int64(s.kept[i].n) <= off {
		s.releaseLocked(s.kept[i].buf)
		s.kept[i] = keptChunk{}
		i++
	}
	s.kept = s.kept[i:]
}

// attach registers a reader: chunks are kept for it.
func (s *spool) attach() {
	s.mu.Lock()
	s.readers++
	s.detached = false
	s.mu.Unlock()
}

// detach unregisters a reader. With no reader left, the kept chunks are released (a reader that
// comes later reads the file), and a closed spool gives the pool's buffers back.
func (s *spool) detach() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readers--
	if s.readers > 0 {
		return
	}
	s.detached = true
	s.dropKeptLocked(math.MaxInt64)
	if s.closed {
		s.retireLocked()
	}
}

// retireLocked gives every buffer of the pool back once the spool is closed and unread. Caller
// holds s.mu.
func (s *spool) retireLocked() {
	if s.retired {
		return
	}
	s.retired = true
	s.dropKeptLocked(math.MaxInt64)
	if s.buf != nil {
		s.releaseLocked(s.buf)
	}
	s.buf = nil
	s.free = nil // the spool's own buffers go to the collector
}

// appendKept appends to dst the bytes of the file from off up to limit that are still in memory
// (one kept chunk's worth at most) and returns dst and how many bytes it appended: 0 when the
// chunk holding off is no longer kept. Chunks wholly below off are released: the reader has them.
func (s *spool) appendKept(dst []byte, off, limit int64) ([]byte, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropKeptLocked(off)
	if len(s.kept) == 0 || s.kept[0].off > off {
		return dst, 0
	}
	c := s.kept[0]
	end := min(c.off+int64(c.n), limit)
	if end <= off {
		return dst, 0
	}
	dst = append(dst, c.buf[off-c.off:end-c.off]...)
	return dst, int(end - off)
}

// write is the writer goroutine: it runs the ops in order until ops is closed.
func (s *spool) write() {
	defer s.writer.Done()
	for op := range s.ops {
		s.mu.Lock()
		err := s.werr
		s.mu.Unlock()
		if err == nil {
			switch {
			case op.fsync:
				if e := s.f.Sync(); e != nil {
					err = fmt.Errorf("fsync cache file %s: %w", s.path, e)
				}
			case op.buf != nil && op.w > 0:
				if _, e := s.f.WriteAt(op.buf[:op.w], op.off); e != nil {
					if s.direct && errors.Is(e, syscall.EINVAL) {
						err = fmt.Errorf("direct write of cache file %s: %w", s.path, e)
					} else {
						err = fmt.Errorf("write cache file %s: %w", s.path, e)
					}
				}
			}
		}
		s.mu.Lock()
		if err != nil && s.werr == nil {
			s.werr = err
		}
		if err == nil && op.buf != nil && op.end > s.readable {
			s.readable = op.end
		}
		switch {
		case !op.full && !op.tail: // not a chunk of the file (every write is a full chunk or Finish's tail)
		case err == nil && !s.detached && !s.retired:
			s.kept = append(s.kept, keptChunk{off: op.off, n: int(op.end - op.off), buf: op.buf})
		default:
			s.releaseLocked(op.buf)
		}
		s.cond.Broadcast()
		s.mu.Unlock()
		if op.done != nil {
			op.done <- err
		}
	}
}

// writeErr is the first error of the writer.
func (s *spool) writeErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.werr
}

// Append adds b at the end. It returns how many bytes were appended since the last sync, and the
// first error of an earlier write.
func (s *spool) Append(b []byte) (int64, error) {
	if err := s.writeErr(); err != nil {
		return 0, err
	}
	total := int64(len(b))
	for len(b) > 0 {
		k := copy(s.buf[s.n:], b)
		s.n += k
		b = b[k:]
		if s.n == len(s.buf) {
			end := s.base + int64(s.n)
			s.ops <- spoolOp{buf: s.buf, w: s.n, off: s.base, end: end, full: true}
			s.base, s.n = end, 0
			s.mu.Lock()
			s.buf = s.nextBufLocked()
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	s.unsynced += total
	u := s.unsynced
	s.mu.Unlock()
	return u, nil
}

// Sync asks for what was written so far to be made durable, without waiting (it bounds the dirty
// memory of a file system without direct I/O). Finish is what makes the whole file durable.
func (s *spool) Sync() error {
	if err := s.writeErr(); err != nil {
		return err
	}
	s.ops <- spoolOp{fsync: true}
	s.mu.Lock()
	s.unsynced = 0
	s.mu.Unlock()
	return nil
}

// wait returns once every op queued so far is done, with the writer's first error.
func (s *spool) wait() error {
	done := make(chan error, 1)
	s.ops <- spoolOp{done: done}
	<-done
	return s.writeErr()
}

// Finish writes the tail, syncs, cuts the padding and marks the spool done. The file stays open
// for readers.
func (s *spool) Finish() error {
	w := s.n
	if s.direct {
		w = (s.n + directio.Align - 1) &^ (directio.Align - 1)
		clear(s.buf[s.n:w])
	}
	size := s.base + int64(s.n)
	s.ops <- spoolOp{buf: s.buf, w: w, off: s.base, end: size, tail: true}
	s.buf = nil // kept for readers by the writer; nothing is appended after Finish
	s.ops <- spoolOp{fsync: true}
	if err := s.wait(); err != nil {
		return err
	}
	if err := s.f.Truncate(size); err != nil {
		return fmt.Errorf("truncate cache file %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("fsync cache file %s: %w", s.path, err)
	}
	s.mu.Lock()
	s.unsynced = 0
	s.done = true
	s.cond.Broadcast()
	s.mu.Unlock()
	return nil
}

// Fail wakes readers with err; the writer is gone.
func (s *spool) Fail(err error) {
	s.mu.Lock()
	if !s.done {
		s.done, s.failed = true, err
	}
	s.cond.Broadcast()
	s.mu.Unlock()
}

// Size is what has been appended.
func (s *spool) Size() int64 { return s.base + int64(s.n) }

// waitReadable blocks until more than off bytes are readable or the spool is done; it returns the
// readable size, whether the spool is finished, and the failure if it failed.
func (s *spool) waitReadable(off int64) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.readable <= off && !s.done {
		s.cond.Wait()
	}
	return s.readable, s.done, s.failed
}

// Close ends the writer (after the writes queued) and releases the file. The appender calls it,
// once.
func (s *spool) Close() error {
	s.mu.Lock()
	closed := s.closed
	s.closed = true
	s.mu.Unlock()
	if !closed {
		close(s.ops)
		s.writer.Wait()
		s.mu.Lock()
		if s.readers == 0 {
			s.retireLocked()
		}
		s.mu.Unlock()
	}
	return s.f.Close()
}
