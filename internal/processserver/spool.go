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

// spool is a point's cache file being appended to. Where the file system allows it, it writes
// whole aligned 1 MiB chunks with O_DIRECT (the page cache costs this kind of machine seconds of CPU
// per GiB); a sync writes the partial tail padded to a block, and the next write rewrites that block.
// Readers only read below Readable(), which is always data the spool wrote.
type spool struct {
	path   string
	f      *os.File
	direct bool
	buf    []byte // pending bytes from offset base; aligned
	n      int
	base   int64 // file offset of buf[0]; a multiple of directio.Align when direct

	mu       sync.Mutex
	cond     *sync.Cond
	readable int64 // bytes readers may read
	unsynced int64
	done     bool // finished (complete and durable) or failed
	failed   error
}

func createSpool(path string) (*spool, error) {
	s := &spool{path: path}
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
	if s.direct {
		s.buf = directio.AlignedBuffer(spoolChunk)
	} else {
		s.buf = make([]byte, spoolChunk)
	}
	return s, nil
}

// Append adds b at the end. It returns how many bytes were appended since the last sync.
func (s *spool) Append(b []byte) (int64, error) {
	total := int64(len(b))
	for len(b) > 0 {
		k := copy(s.buf[s.n:], b)
		s.n += k
		b = b[k:]
		if s.n == len(s.buf) {
			if err := s.writeBuf(true); err != nil {
				return 0, err
			}
		}
	}
	s.mu.Lock()
	s.unsynced += total
	u := s.unsynced
	s.mu.Unlock()
	return u, nil
}

// writeBuf writes the pending bytes at base; full moves base past them.
func (s *spool) writeBuf(full bool) error {
	w := s.n
	if s.direct {
		w = (s.n + directio.Align - 1) &^ (directio.Align - 1)
		clear(s.buf[s.n:w])
	}
	if w > 0 {
		if _, err := s.f.WriteAt(s.buf[:w], s.base); err != nil {
			if s.direct && errors.Is(err, syscall.EINVAL) {
				return fmt.Errorf("direct write of cache file %s: %w", s.path, err)
			}
			return fmt.Errorf("write cache file %s: %w", s.path, err)
		}
	}
	end := s.base + int64(s.n)
	if full {
		s.base, s.n = end, 0
	}
	s.mu.Lock()
	s.readable = end
	s.cond.Broadcast()
	s.mu.Unlock()
	return nil
}

// Sync makes everything appended durable.
func (s *spool) Sync() error {
	if err := s.writeBuf(false); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("fsync cache file %s: %w", s.path, err)
	}
	s.mu.Lock()
	s.unsynced = 0
	s.mu.Unlock()
	return nil
}

// Finish syncs, cuts the padding and marks the spool done. The file stays open for readers.
func (s *spool) Finish() error {
	if err := s.Sync(); err != nil {
		return err
	}
	size := s.base + int64(s.n)
	if err := s.f.Truncate(size); err != nil {
		return fmt.Errorf("truncate cache file %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("fsync cache file %s: %w", s.path, err)
	}
	s.mu.Lock()
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

// Close releases the file.
func (s *spool) Close() error { return s.f.Close() }
