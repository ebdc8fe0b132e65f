// Package limit wraps a storage.Backend so that uploads and downloads stay under a bandwidth
// limit, each in bytes per second and shared by all concurrent operations on the backend.
//
// The bytes are throttled as they flow: Put's body and the reader given to Load's fn are wrapped,
// and every chunk (at most 64 KiB) waits for its tokens. A backend that reads a Put body twice
// (to hash it first) is charged twice.
package limit

import (
	"context"
	"fmt"
	"io"

	"golang.org/x/time/rate"

	"github.com/opensiterecovery/osr/internal/storage"
)

// Chunk is the most bytes a single read passes before it waits for the limiter; it is also the
// limiter's burst.
const Chunk = 64 << 10

// Options set the limits, in bytes per second; 0 means unlimited.
type Options struct {
	Upload   int64
	Download int64
}

// Backend limits the bandwidth of the backend it wraps.
type Backend struct {
	be       storage.Backend
	up, down *rate.Limiter // nil: unlimited
}

var _ storage.Backend = (*Backend)(nil)

// New wraps be. With both limits 0 it still returns a wrapper, which passes everything through.
func New(be storage.Backend, opts Options) *Backend {
	return &Backend{be: be, up: limiter(opts.Upload), down: limiter(opts.Download)}
}

func limiter(bps int64) *rate.Limiter {
	if bps <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(bps), Chunk)
}

// Location returns the wrapped backend's location.
func (b *Backend) Location() string { return b.be.Location() }

// Close closes the wrapped backend.
func (b *Backend) Close() error { return b.be.Close() }

// Put stores the object, reading body no faster than the upload limit.
func (b *Backend) Put(ctx context.Context, name string, body io.ReaderAt, size int64) error {
	if b.up != nil {
		body = &readerAt{ctx: ctx, lim: b.up, r: body}
	}
	return b.be.Put(ctx, name, body, size)
}

// Load calls fn with a reader that delivers no faster than the download limit.
func (b *Backend) Load(ctx context.Context, name string, offset, length int64, fn func(io.Reader) error) error {
	if b.down == nil {
		return b.be.Load(ctx, name, offset, length, fn)
	}
	return b.be.Load(ctx, name, offset, length, func(rd io.Reader) error {
		return fn(&reader{ctx: ctx, lim: b.down, r: rd})
	})
}

// Stat is not limited.
func (b *Backend) Stat(ctx context.Context, name string) (storage.Info, error) {
	return b.be.Stat(ctx, name)
}

// List is not limited.
func (b *Backend) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	return b.be.List(ctx, prefix, fn)
}

// Delete is not limited.
func (b *Backend) Delete(ctx context.Context, name string) error { return b.be.Delete(ctx, name) }

// reader throttles Read.
type reader struct {
	ctx context.Context
	lim *rate.Limiter
	r   io.Reader
}

func (r *reader) Read(p []byte) (int, error) {
	if len(p) > Chunk {
		p = p[:Chunk]
	}
	n, err := r.r.Read(p)
	if n > 0 {
		if werr := wait(r.ctx, r.lim, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// readerAt throttles ReadAt, chunk by chunk.
type readerAt struct {
	ctx context.Context
	lim *rate.Limiter
	r   io.ReaderAt
}

func (r *readerAt) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		chunk := p[done:min(len(p), done+Chunk)]
		if err := wait(r.ctx, r.lim, len(chunk)); err != nil {
			return done, err
		}
		n, err := r.r.ReadAt(chunk, off+int64(done))
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// wait takes n tokens. The limiter fails at once when ctx's deadline comes before the tokens
// would; that is reported as the deadline error it foresees.
func wait(ctx context.Context, lim *rate.Limiter, n int) error {
	if err := lim.WaitN(ctx, n); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("bandwidth limit: %w (%v)", context.DeadlineExceeded, err)
	}
	return nil
}
