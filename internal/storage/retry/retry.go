// Package retry wraps a storage.Backend so that operations failing with an error that may be
// transient are tried again, with exponential backoff and jitter. Permanent errors (see
// storage.IsPermanent), including not-found and context errors, are returned at once.
//
// Put re-reads its body from offset 0 on every try, Load calls fn again with a fresh reader, List
// does not report a name twice when it resumes after a failure, and a Delete that finds no object
// after an earlier try failed counts as done (the earlier try may have deleted it).
package retry

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/opensiterecovery/osr/internal/storage"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxTries     = 6
	DefaultInitialDelay = 200 * time.Millisecond
	DefaultMaxDelay     = 15 * time.Second
)

// Options configure the retrying wrapper. The zero value uses the defaults.
type Options struct {
	MaxTries     int           // tries in all, the first one included; 0: DefaultMaxTries
	InitialDelay time.Duration // delay before the second try; 0: DefaultInitialDelay
	MaxDelay     time.Duration // the delay doubles after each try up to this; 0: DefaultMaxDelay
	Logger       *slog.Logger  // where retries are logged (at warning level); nil: nowhere

	// Sleep waits for d or until ctx ends, returning ctx's error then; nil: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) for the jitter; nil: math/rand/v2.
	Rand func() float64
}

// Backend retries the operations of the backend it wraps.
type Backend struct {
	be   storage.Backend
	opts Options
}

var _ storage.Backend = (*Backend)(nil)

// New wraps be.
func New(be storage.Backend, opts Options) *Backend {
	if opts.MaxTries <= 0 {
		opts.MaxTries = DefaultMaxTries
	}
	if opts.InitialDelay <= 0 {
		opts.InitialDelay = DefaultInitialDelay
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	opts.MaxDelay = max(opts.MaxDelay, opts.InitialDelay)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	return &Backend{be: be, opts: opts}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// delay returns the wait before try number next (2, 3, ...): the backoff for that try, of which
// the upper half is random ("equal jitter").
func (b *Backend) delay(next int) time.Duration {
	d := b.opts.InitialDelay
	for i := 2; i < next && d < b.opts.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, b.opts.MaxDelay)
	return d/2 + time.Duration(b.opts.Rand()*float64(d/2))
}

// do calls op until it succeeds, fails permanently, the tries are used up or ctx ends. op is told
// whether an earlier try failed.
func (b *Backend) do(ctx context.Context, what, name string, op func(retrying bool) error) error {
	var err error
	for try := 1; ; try++ {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		err = op(try > 1)
		if err == nil || storage.IsPermanent(err) {
			return err
		}
		if ctx.Err() != nil {
			return err // the failure is likely the context's doing
		}
		if try >= b.opts.MaxTries {
			b.opts.Logger.WarnContext(ctx, "storage: giving up", "op", what, "name", name,
				"location", b.be.Location(), "tries", try, "err", err)
			return err
		}
		d := b.delay(try + 1)
		b.opts.Logger.WarnContext(ctx, "storage: retrying", "op", what, "name", name,
			"location", b.be.Location(), "try", try, "delay", d, "err", err)
		if serr := b.opts.Sleep(ctx, d); serr != nil {
			return serr
		}
	}
}

// Location returns the wrapped backend's location.
func (b *Backend) Location() string { return b.be.Location() }

// Close closes the wrapped backend.
func (b *Backend) Close() error { return b.be.Close() }

// Put stores the object, reading body anew from offset 0 on each try.
func (b *Backend) Put(ctx context.Context, name string, body io.ReaderAt, size int64) error {
	return b.do(ctx, "put", name, func(bool) error { return b.be.Put(ctx, name, body, size) })
}

// Load calls fn with a fresh reader on each try.
func (b *Backend) Load(ctx context.Context, name string, offset, length int64, fn func(io.Reader) error) error {
	return b.do(ctx, "load", name, func(bool) error { return b.be.Load(ctx, name, offset, length, fn) })
}

// Stat returns the object's Info.
func (b *Backend) Stat(ctx context.Context, name string) (storage.Info, error) {
	var fi storage.Info
	err := b.do(ctx, "stat", name, func(bool) error {
		var err error
		fi, err = b.be.Stat(ctx, name)
		return err
	})
	return fi, err
}

// List lists again after a failure, skipping the names fn has already seen.
func (b *Backend) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	seen := map[string]bool{}
	var fnErr error
	err := b.do(ctx, "list", prefix, func(bool) error {
		return b.be.List(ctx, prefix, func(fi storage.Info) error {
			if seen[fi.Name] {
				return nil
			}
			seen[fi.Name] = true
			if err := fn(fi); err != nil {
				fnErr = err
				return storage.Permanent(err)
			}
			return nil
		})
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

// Delete removes the object. A not-found after an earlier failed try counts as success.
func (b *Backend) Delete(ctx context.Context, name string) error {
	return b.do(ctx, "delete", name, func(retrying bool) error {
		err := b.be.Delete(ctx, name)
		if retrying && storage.IsNotFound(err) {
			return nil
		}
		return err
	})
}
