package processserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/opensiterecovery/osr/internal/directio"
	"github.com/opensiterecovery/osr/internal/wire"
)

// errCorruptCache marks a cache file that cannot be trusted: its point is dropped, not retried.
var errCorruptCache = errors.New("corrupt cache file")

// frameReader reads the frames of a point's cache file. It follows a spool that is still being
// written (sp non-nil) or reads a complete file. What it reads from the file is checked again,
// every checksum; what it gets from the spool's memory is what the session checked on arrival.
type frameReader struct {
	f       *os.File
	path    string
	direct  bool
	sp      *spool
	size    int64 // file size, for complete files
	pos     int64 // file offset of the first byte not yet in pending
	abuf    []byte
	pending []byte
	start   int   // pending[start:] is unparsed
	fileEnd int64 // end of the newest read from the file: later bytes came from memory
	// Trusted says that the frame next returned last came from the spool's memory: its checksum
	// and fingerprints were verified when it arrived, and the bytes have not left memory since.
	Trusted bool
	// FromMemory and FromFile count the bytes read each way.
	FromMemory, FromFile int64
}

func openFrameReader(path string, sp *spool) (*frameReader, error) {
	r := &frameReader{path: path}
	f, err := directio.OpenFile(path, os.O_RDONLY, 0)
	if err == nil {
		r.f, r.direct = f, true
		r.abuf = directio.AlignedBuffer(spoolChunk)
	} else {
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
		r.f = f
		r.abuf = make([]byte, spoolChunk)
	}
	if sp == nil {
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		r.size = fi.Size()
	} else {
		r.sp = sp
		sp.attach()
	}
	return r, nil
}

func (r *frameReader) Close() error {
	if r.sp != nil {
		r.sp.detach()
		r.sp = nil
	}
	return r.f.Close()
}

// next returns the next frame, io.EOF at the end of a complete file, or the spool's failure. The
// frame aliases the reader's buffer until the next call.
func (r *frameReader) next() (wire.Frame, error) {
	for {
		p := r.pending[r.start:]
		if len(p) >= wire.HeaderSize {
			n := binary.LittleEndian.Uint32(p[4:8])
			if n > MaxFrameBytes {
				return wire.Frame{}, fmt.Errorf("%w %s: frame of %d bytes at offset %d", errCorruptCache, r.path, n, r.pos-int64(len(p)))
			}
			total := wire.HeaderSize + int(n) + wire.TrailerSize
			if len(p) >= total {
				at := r.pos - int64(len(p))
				r.Trusted = at >= r.fileEnd
				parse := wire.ParseFrame
				if r.Trusted {
					parse = wire.ParseCheckedFrame
				}
				f, _, err := parse(p[:total], MaxFrameBytes)
				if err != nil {
					return wire.Frame{}, fmt.Errorf("%w %s at offset %d: %w", errCorruptCache, r.path, at, err)
				}
				r.start += total
				return f, nil
			}
		}
		if err := r.fill(); err != nil {
			return wire.Frame{}, err
		}
	}
}

// fill reads more of the file into pending.
func (r *frameReader) fill() error {
	// Compact what is unparsed to the front.
	k := copy(r.pending, r.pending[r.start:])
	r.pending, r.start = r.pending[:k], 0
	limit := r.size
	if r.sp != nil {
		readable, done, failed := r.sp.waitReadable(r.pos)
		if failed != nil {
			return failed
		}
		limit = readable
		if done && readable <= r.pos {
			if k > 0 {
				return fmt.Errorf("%w %s: %d bytes of a truncated frame at the end", errCorruptCache, r.path, k)
			}
			return io.EOF
		}
	} else if r.pos >= limit {
		if k > 0 {
			return fmt.Errorf("%w %s: %d bytes of a truncated frame at the end", errCorruptCache, r.path, k)
		}
		return io.EOF
	}
	if r.sp != nil {
		var n int
		if r.pending, n = r.sp.appendKept(r.pending, r.pos, limit); n > 0 {
			r.pos += int64(n)
			r.FromMemory += int64(n)
			return nil
		}
	}
	at := r.pos
	if r.direct {
		at &^= directio.Align - 1
	}
	want := min(int64(len(r.abuf)), limit-at)
	rd := want
	if r.direct {
		rd = (want + directio.Align - 1) &^ (directio.Align - 1)
	}
	got, err := r.f.ReadAt(r.abuf[:rd], at)
	if int64(got) < want {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read cache file %s at %d: %w", r.path, at, err)
	}
	r.pending = append(r.pending, r.abuf[r.pos-at:want]...)
	r.FromFile += at + want - r.pos
	r.pos = at + want
	r.fileEnd = r.pos
	return nil
}
