package retry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/storage"
	"github.com/opensiterecovery/osr/internal/storage/file"
	"github.com/opensiterecovery/osr/internal/storage/retry"
	"github.com/opensiterecovery/osr/internal/storage/storagetest"
)

var errFlaky = errors.New("connection reset by peer")

// flaky is a backend on a directory whose operations fail with err on their first fails calls.
type flaky struct {
	storage.Backend
	mu    sync.Mutex
	fails int
	err   error
	calls int
}

func (f *flaky) fail() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.fails {
		return f.err
	}
	return nil
}

func (f *flaky) Put(ctx context.Context, name string, body io.ReaderAt, size int64) error {
	if err := f.fail(); err != nil {
		_, _ = body.ReadAt(make([]byte, size/2), 0) // a partial upload
		return err
	}
	return f.Backend.Put(ctx, name, body, size)
}

func (f *flaky) Load(ctx context.Context, name string, off, n int64, fn func(io.Reader) error) error {
	if err := f.fail(); err != nil {
		// the connection breaks after a few bytes: fn sees the error and returns it
		return fn(io.MultiReader(strings.NewReader("gar"), iotestErrReader{err}))
	}
	return f.Backend.Load(ctx, name, off, n, fn)
}

func (f *flaky) Stat(ctx context.Context, name string) (storage.Info, error) {
	if err := f.fail(); err != nil {
		return storage.Info{}, err
	}
	return f.Backend.Stat(ctx, name)
}

func (f *flaky) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	failing := f.fail()
	n := 0
	err := f.Backend.List(ctx, prefix, func(fi storage.Info) error {
		if failing != nil && n == 2 {
			return failing // the listing breaks after two names
		}
		n++
		return fn(fi)
	})
	return err
}

func (f *flaky) Delete(ctx context.Context, name string) error {
	if err := f.fail(); err != nil {
		_ = f.Backend.Delete(ctx, name) // the delete happened, its answer was lost
		return err
	}
	return f.Backend.Delete(ctx, name)
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

type harness struct {
	fake   *flaky
	be     *retry.Backend
	sleeps []time.Duration
	log    bytes.Buffer
}

func newHarness(t *testing.T, fails int, err error, opts retry.Options) *harness {
	inner, ferr := file.Open(t.TempDir(), file.Options{})
	if ferr != nil {
		t.Fatal(ferr)
	}
	h := &harness{fake: &flaky{Backend: inner, fails: fails, err: err}}
	opts.Logger = slog.New(slog.NewTextHandler(&h.log, nil))
	if opts.Sleep == nil {
		opts.Sleep = func(ctx context.Context, d time.Duration) error {
			h.sleeps = append(h.sleeps, d)
			return ctx.Err()
		}
	}
	opts.Rand = func() float64 { return 0.5 }
	h.be = retry.New(h.fake, opts)
	return h
}

func (h *harness) seed(t *testing.T, names ...string) {
	for _, n := range names {
		if err := h.fake.Backend.Put(t.Context(), n, strings.NewReader("data of "+n), int64(len("data of "+n))); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTransientRetried(t *testing.T) {
	ctx := t.Context()
	for _, op := range []string{"put", "load", "stat", "list", "delete"} {
		t.Run(op, func(t *testing.T) {
			h := newHarness(t, 2, fmt.Errorf("op: %w", errFlaky), retry.Options{InitialDelay: 100 * time.Millisecond})
			h.seed(t, "a/1", "a/2", "a/3")
			var err error
			switch op {
			case "put":
				err = h.be.Put(ctx, "a/new", strings.NewReader("new content"), 11)
				if got, _ := storage.ReadAll(ctx, h.fake.Backend, "a/new"); string(got) != "new content" {
					t.Errorf("stored %q", got)
				}
			case "load":
				var reads []string
				err = h.be.Load(ctx, "a/1", 0, 0, func(rd io.Reader) error {
					b, err := io.ReadAll(rd)
					reads = append(reads, string(b))
					return err
				})
				if want := []string{"gar", "gar", "data of a/1"}; !slices.Equal(reads, want) {
					t.Errorf("fn read %q, want %q", reads, want)
				}
			case "stat":
				var fi storage.Info
				fi, err = h.be.Stat(ctx, "a/2")
				if fi.Size != int64(len("data of a/2")) {
					t.Errorf("stat: %+v", fi)
				}
			case "list":
				var names []string
				err = h.be.List(ctx, "a/", func(fi storage.Info) error { names = append(names, fi.Name); return nil })
				slices.Sort(names)
				if want := []string{"a/1", "a/2", "a/3"}; !slices.Equal(names, want) {
					t.Errorf("listed %v, want each of %v once", names, want)
				}
			case "delete":
				err = h.be.Delete(ctx, "a/3") // the first failed try deleted it already
				if _, serr := h.fake.Backend.Stat(ctx, "a/3"); !storage.IsNotFound(serr) {
					t.Errorf("stat after delete: %v", serr)
				}
			}
			if err != nil {
				t.Fatalf("%s: %v", op, err)
			}
			if h.fake.calls != 3 {
				t.Errorf("%d calls, want 3", h.fake.calls)
			}
			if want := []time.Duration{75 * time.Millisecond, 150 * time.Millisecond}; !slices.Equal(h.sleeps, want) {
				t.Errorf("slept %v, want %v", h.sleeps, want)
			}
			if n := strings.Count(h.log.String(), "storage: retrying"); n != 2 {
				t.Errorf("%d retries logged, want 2:\n%s", n, h.log.String())
			}
		})
	}
}

func TestPermanentNotRetried(t *testing.T) {
	for _, err := range []error{
		storage.Permanent(errors.New("access denied")),
		fmt.Errorf("load x: %w", storage.ErrNotFound),
		context.DeadlineExceeded,
	} {
		h := newHarness(t, 5, err, retry.Options{})
		got := h.be.Load(t.Context(), "x", 0, 0, func(rd io.Reader) error { _, err := io.ReadAll(rd); return err })
		if !errors.Is(got, err) || h.fake.calls != 1 || len(h.sleeps) != 0 {
			t.Errorf("%v: got %v after %d calls, %d sleeps; want it after one call", err, got, h.fake.calls, len(h.sleeps))
		}
	}
}

func TestGivesUp(t *testing.T) {
	h := newHarness(t, 100, errFlaky, retry.Options{MaxTries: 5, InitialDelay: time.Second, MaxDelay: 3 * time.Second})
	_, err := h.be.Stat(t.Context(), "x")
	if !errors.Is(err, errFlaky) || h.fake.calls != 5 {
		t.Fatalf("got %v after %d calls, want the last error after 5", err, h.fake.calls)
	}
	want := []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 2250 * time.Millisecond, 2250 * time.Millisecond}
	if !slices.Equal(h.sleeps, want) {
		t.Errorf("slept %v, want %v", h.sleeps, want)
	}
	if !strings.Contains(h.log.String(), "storage: giving up") {
		t.Errorf("log:\n%s", h.log.String())
	}
}

func TestContextCancelStops(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h := newHarness(t, 100, errFlaky, retry.Options{Sleep: func(ctx context.Context, d time.Duration) error {
		cancel() // the caller gives up while we wait
		<-ctx.Done()
		return ctx.Err()
	}})
	_, err := h.be.Stat(ctx, "x")
	if !errors.Is(err, context.Canceled) || h.fake.calls != 1 {
		t.Fatalf("got %v after %d calls, want context.Canceled after 1", err, h.fake.calls)
	}
	// The real sleep ends early too.
	h = newHarness(t, 100, errFlaky, retry.Options{})
	h.be = retry.New(h.fake, retry.Options{InitialDelay: time.Hour})
	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := h.be.Stat(ctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		inner, err := file.Open(t.TempDir(), file.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return retry.New(inner, retry.Options{InitialDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond})
	})
}
