package processserver

import (
	"errors"
	"fmt"
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
// per GiB); a sync writes the partial tail padded to a block, and the next write rewrites that block.
// The writes are made by a goroutine of the spool's, in order, while the caller fills the next
// chunk. Readers only read below Readable(), which is always data the spool wrote.
type spool struct {
	path   string
	f      *os.File
	direct bool
	buf    []byte // the chunk being filled, from file offset base; aligned
	n      int
	base   int64 // file offset of buf[0]; a multiple of directio.Align when direct

	free   chan []byte    // chunk buffers not in use
	ops    chan spoolOp   // to the writer, in order
	writer sync.WaitGroup // the writer goroutine
	nbufs  int            // buffers made so far

	mu       sync.Mutex
	cond     *sync.Cond
	readable int64 // bytes readers may read
	unsynced int64
	done     bool  // finished (complete and durable) or failed
	failed   error // Fail's error, for readers
	werr     error // the first write or fsync error, for the appender
	closed   bool
}

// spoolOp is one thing the writer does: write buf[:w] at off (readable becomes end after it;
// full gives buf back), or fsync, or tell done when every earlier op is done.
type spoolOp struct {
	buf   []byte
	w     int
	off   int64
	end   int64
	full  bool
	fsync bool
	done  chan error
}

func createSpool(path string) (*spool, error) {
	s := &spool{path: path, free: make(chan []byte, spoolBuffers), ops: make(chan spoolOp, spoolBuffers+2)}
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
	s.buf = s.newBuf()
	s.writer.Add(1)
	go s.write()
	return s, nil
}

func (s *spool) newBuf() []byte {
	s.nbufs++
	if s.direct {
		return directio.AlignedBuffer(spoolChunk)
	}
	return make([]byte, spoolChunk)
}

// nextBuf returns a free chunk buffer, making one while fewer than spoolBuffers exist (a point
// that trickles in holds one), else waiting for the writer to give one back.
func (s *spool) nextBuf() []byte {
	select {
	case b := <-s.free:
		return b
	default:
	}
	if s.nbufs < spoolBuffers {
		return s.newBuf()
	}
	return <-s.free
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
			s.cond.Broadcast()
		}
		s.mu.Unlock()
		if op.full {
			s.free <- op.buf
		}
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
			s.buf = s.nextBuf()
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
	s.ops <- spoolOp{buf: s.buf, w: w, off: s.base, end: size}
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
	}
	return s.f.Close()
}
