// Package storagetest is the conformance suite that every storage backend passes, run against the
// real servers (a directory, Azurite, versitygw). It checks the guarantees written in the doc
// comment of storage.Backend: atomic and durable put, read-after-write, exact listing, ranged loads
// and the classification of errors.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/storage"
)

// Option changes how Run tests a backend.
type Option func(*config)

type config struct {
	reopen func(t *testing.T, be storage.Backend) storage.Backend
}

// WithReopen lets Run check read-after-write across two clients: reopen returns a second, new
// backend instance on the same location as be.
func WithReopen(reopen func(t *testing.T, be storage.Backend) storage.Backend) Option {
	return func(c *config) { c.reopen = reopen }
}

// Run runs the conformance suite. Every call of newBackend must return an empty backend, isolated
// from the ones returned before (for example on a fresh directory or a unique prefix); newBackend
// registers its own cleanup with t.
func Run(t *testing.T, newBackend func(t *testing.T) storage.Backend, opts ...Option) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, be storage.Backend)
	}{
		{"RoundTrip", testRoundTrip},
		{"Ranges", testRanges},
		{"OverwriteAtomic", testOverwriteAtomic},
		{"NotFound", testNotFound},
		{"InvalidNames", testInvalidNames},
		{"List", testList},
		{"ListFnError", testListFnError},
		{"Delete", testDelete},
		{"ConcurrentPuts", testConcurrentPuts},
		{"CancelledPut", testCancelledPut},
		{"CancelledLoad", testCancelledLoad},
		{"LoadFnError", testLoadFnError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			be := newBackend(t)
			tc.fn(t, be)
		})
	}
	if cfg.reopen == nil {
		return // the factory cannot open a second client on the same location
	}
	t.Run("ReadAfterWriteTwoClients", func(t *testing.T) {
		t.Parallel()
		be := newBackend(t)
		testTwoClients(t, be, cfg.reopen(t, be))
	})
}

// ctxFor returns a context that ends with the test or after a minute.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(s).Read(b)
	return b
}

func put(t *testing.T, ctx context.Context, be storage.Backend, name string, data []byte) {
	t.Helper()
	if err := be.Put(ctx, name, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("put %s (%d bytes): %v", name, len(data), err)
	}
}

func load(ctx context.Context, be storage.Backend, name string, offset, length int64) ([]byte, error) {
	var got []byte
	err := be.Load(ctx, name, offset, length, func(rd io.Reader) error {
		b, err := io.ReadAll(rd)
		got = b
		return err
	})
	return got, err
}

func mustLoad(t *testing.T, ctx context.Context, be storage.Backend, name string, want []byte) {
	t.Helper()
	got, err := load(ctx, be, name, 0, 0)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("load %s: got %d bytes (sha256 %x), want %d bytes (sha256 %x)",
			name, len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
	}
}

func mustNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want one wrapping storage.ErrNotFound", what)
	}
	if !storage.IsNotFound(err) || !storage.IsPermanent(err) {
		t.Fatalf("%s: error %q: IsNotFound %v, IsPermanent %v, want both true",
			what, err, storage.IsNotFound(err), storage.IsPermanent(err))
	}
}

// listAll returns the objects under prefix, failing on an error or a name reported twice.
func listAll(t *testing.T, ctx context.Context, be storage.Backend, prefix string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	err := be.List(ctx, prefix, func(fi storage.Info) error {
		if _, dup := got[fi.Name]; dup {
			return fmt.Errorf("name %q listed twice", fi.Name)
		}
		got[fi.Name] = fi.Size
		return nil
	})
	if err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return got
}

// cancellingReader serves its data until a read reaches past half of it; then it cancels the
// context and fails, like a body whose producer stops because the caller gave up.
type cancellingReader struct {
	data   []byte
	cancel context.CancelFunc
	ctx    context.Context
}

func (r *cancellingReader) ReadAt(p []byte, off int64) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if off+int64(len(p)) > int64(len(r.data))/2 {
		r.cancel()
		return 0, r.ctx.Err()
	}
	return copy(p, r.data[off:]), nil
}

var errFn = errors.New("storagetest: error from fn")
