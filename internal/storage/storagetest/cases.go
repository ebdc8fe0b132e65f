package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opensiterecovery/osr/internal/storage"
)

func testRoundTrip(t *testing.T, be storage.Backend) {
	ctx := ctxFor(t)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"rt/empty", []byte{}},
		{"rt/one", []byte{0x5a}},
		{"rt/big", randomBytes(1, 5<<20)},
		{"config", []byte("a top-level name")},
	} {
		put(t, ctx, be, tc.name, tc.data)
		mustLoad(t, ctx, be, tc.name, tc.data)
		fi, err := be.Stat(ctx, tc.name)
		if err != nil {
			t.Fatalf("stat %s: %v", tc.name, err)
		}
		if fi.Name != tc.name || fi.Size != int64(len(tc.data)) {
			t.Fatalf("stat %s: got %+v, want size %d", tc.name, fi, len(tc.data))
		}
		got, err := storage.ReadAll(ctx, be, tc.name)
		if err != nil || !bytes.Equal(got, tc.data) {
			t.Fatalf("storage.ReadAll %s: %d bytes, %v", tc.name, len(got), err)
		}
	}
}

func testRanges(t *testing.T, be storage.Backend) {
	ctx := ctxFor(t)
	data := randomBytes(2, 1000)
	put(t, ctx, be, "range/obj", data)
	put(t, ctx, be, "range/empty", nil)
	for _, tc := range []struct {
		name           string
		offset, length int64
		ok             bool
	}{
		{"range/obj", 0, 0, true},
		{"range/obj", 10, 0, true},
		{"range/obj", 10, 20, true},
		{"range/obj", 0, 1000, true},
		{"range/obj", 999, 1, true},
		{"range/obj", 999, 0, true},
		{"range/obj", 1000, 0, true}, // an empty range at the end
		{"range/obj", 0, 1001, false},
		{"range/obj", 990, 20, false},
		{"range/obj", 1000, 1, false},
		{"range/obj", 1001, 0, false},
		{"range/obj", 5000, 10, false},
		{"range/obj", -1, 0, false},
		{"range/obj", 0, -1, false},
		{"range/empty", 0, 0, true},
		{"range/empty", 0, 1, false},
		{"range/empty", 1, 0, false},
	} {
		called := false
		var got []byte
		err := be.Load(ctx, tc.name, tc.offset, tc.length, func(rd io.Reader) error {
			called = true
			b, err := io.ReadAll(rd)
			got = b
			return err
		})
		what := fmt.Sprintf("load %s offset %d length %d", tc.name, tc.offset, tc.length)
		if !tc.ok {
			if err == nil {
				t.Errorf("%s: no error, want one (got %d bytes)", what, len(got))
			} else if !storage.IsPermanent(err) || storage.IsNotFound(err) {
				t.Errorf("%s: error %q should be permanent and not a not-found", what, err)
			}
			if called {
				t.Errorf("%s: fn called for an invalid range", what)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", what, err)
			continue
		}
		obj := data
		if tc.name == "range/empty" {
			obj = nil
		}
		end := int64(len(obj))
		if tc.length > 0 {
			end = tc.offset + tc.length
		}
		if want := obj[tc.offset:end]; !bytes.Equal(got, want) {
			t.Errorf("%s: got %d bytes, want %d", what, len(got), len(want))
		}
	}
}

func testOverwriteAtomic(t *testing.T, be storage.Backend) {
	ctx := ctxFor(t)
	const name, size, versions, readers = "atomic/obj", 1 << 20, 6, 3
	contents := make([][]byte, versions)
	for i := range contents {
		contents[i] = randomBytes(uint64(100+i), size)
	}
	put(t, ctx, be, name, contents[0])
	var done atomic.Bool
	var loads atomic.Int64
	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			for !done.Load() {
				got, err := load(ctx, be, name, 0, 0)
				if err != nil {
					errs <- fmt.Errorf("load during overwrite: %w", err)
					return
				}
				if !slices.ContainsFunc(contents, func(c []byte) bool { return bytes.Equal(c, got) }) {
					errs <- fmt.Errorf("load during overwrite: %d bytes that are no whole version", len(got))
					return
				}
				loads.Add(1)
			}
		})
	}
	for i := 1; i < versions; i++ {
		if err := be.Put(ctx, name, bytes.NewReader(contents[i]), size); err != nil {
			t.Errorf("overwrite %d: %v", i, err)
			break
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d whole loads during %d overwrites", loads.Load(), versions-1)
	mustLoad(t, ctx, be, name, contents[versions-1])
}

func testNotFound(t *testing.T, be storage.Backend) {
	ctx := ctxFor(t)
	put(t, ctx, be, "present/x", []byte("x"))
	for _, name := range []string{"missing", "missing/deep/name", "present/y", "present"} {
		called := false
		err := be.Load(ctx, name, 0, 0, func(io.Reader) error { called = true; return nil })
		mustNotFound(t, "load "+name, err)
		if called {
			t.Errorf("load %s: fn called for a missing object", name)
		}
		_, err = be.Stat(ctx, name)
		mustNotFound(t, "stat "+name, err)
		mustNotFound(t, "delete "+name, be.Delete(ctx, name))
	}
}

func testInvalidNames(t *testing.T, be storage.Backend) {
	ctx := ctxFor(t)
	check := func(what string, err error) {
		t.Helper()
		if err == nil || !storage.IsPermanent(err) || storage.IsNotFound(err) {
			t.Errorf("%s: error %v, want a permanent error that is not a not-found", what, err)
		}
	}
	for _, name := range []string{"", "/abs", "a//b", "../x", "a/../b", "a/./b", "a/", "x/.."} {
		check(fmt.Sprintf("put %q", name), be.Put(ctx, name, bytes.NewReader([]byte("x")), 1))
		check(fmt.Sprintf("load %q", name), be.Load(ctx, name, 0, 0, func(io.Reader) error { return nil }))
		_, err := be.Stat(ctx, name)
		check(fmt.Sprintf("stat %q", name), err)
		check(fmt.Sprintf("delete %q", name), be.Delete(ctx, name))
	}
	if got := listAll(t, ctx, be, ""); len(got) != 0 {
		t.Errorf("objects after invalid puts: %v", got)
	}
}

func testList(t *testing.T, be storage.Backend) {
	ctx := ctxFor(t)
	objects := map[string]int64{
		"config": 3, "keys/k1": 5, "keys/k2": 7, "data/ab/x1": 11, "data/ab/x2": 13,
		"data/ac/y": 17, "data/b": 0, "data2": 19, "snapshots/2024/01/p": 23,
	}
	for name, size := range objects {
		put(t, ctx, be, name, randomBytes(uint64(size), int(size)))
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", slices.Collect(maps.Keys(objects))},
		{"data/", []string{"data/ab/x1", "data/ab/x2", "data/ac/y", "data/b"}},
		{"data", []string{"data/ab/x1", "data/ab/x2", "data/ac/y", "data/b", "data2"}},
		{"data/a", []string{"data/ab/x1", "data/ab/x2", "data/ac/y"}},
		{"data/ab/", []string{"data/ab/x1", "data/ab/x2"}},
		{"data/ab/x1", []string{"data/ab/x1"}},
		{"k", []string{"keys/k1", "keys/k2"}},
		{"keys/k2", []string{"keys/k2"}},
		{"config", []string{"config"}},
		{"snapshots/2024/", []string{"snapshots/2024/01/p"}},
		{"nope/", nil},
		{"data/ab/x3", nil},
		{"config/", nil},
	} {
		got := listAll(t, ctx, be, tc.prefix)
		want := map[string]int64{}
		for _, n := range tc.want {
			want[n] = objects[n]
		}
		if !maps.Equal(got, want) {
			t.Errorf("list %q: got %v, want %v", tc.prefix, got, want)
		}
	}
}

func testListFnError(t *testing.T, be storage.Backend) {
	ctx := ctxFor(t)
	for i := range 3 {
		put(t, ctx, be, fmt.Sprintf("l/%d", i), []byte{byte(i)})
	}
	calls := 0
	err := be.List(ctx, "l/", func(storage.Info) error { calls++; return errFn })
	if !errors.Is(err, errFn) {
		t.Errorf("list: error %v, want fn's error", err)
	}
	if calls != 1 {
		t.Errorf("list: fn called %d times after it failed, want once", calls)
	}
}

func testDelete(t *testing.T, be storage.Backend) {
	ctx := ctxFor(t)
	put(t, ctx, be, "del/a", []byte("a"))
	put(t, ctx, be, "del/b", []byte("bb"))
	if err := be.Delete(ctx, "del/a"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err := be.Stat(ctx, "del/a")
	mustNotFound(t, "stat after delete", err)
	_, err = load(ctx, be, "del/a", 0, 0)
	mustNotFound(t, "load after delete", err)
	mustNotFound(t, "second delete", be.Delete(ctx, "del/a"))
	if got, want := listAll(t, ctx, be, ""), map[string]int64{"del/b": 2}; !maps.Equal(got, want) {
		t.Errorf("list after delete: got %v, want %v", got, want)
	}
	put(t, ctx, be, "del/a", []byte("again"))
	mustLoad(t, ctx, be, "del/a", []byte("again"))
}

func testTwoClients(t *testing.T, a, b storage.Backend) {
	ctx := ctxFor(t)
	defer b.Close()
	if a.Location() != b.Location() {
		t.Errorf("reopened location %q differs from %q", b.Location(), a.Location())
	}
	data := randomBytes(3, 4096)
	put(t, ctx, a, "raw/x", data)
	mustLoad(t, ctx, b, "raw/x", data)
	if fi, err := b.Stat(ctx, "raw/x"); err != nil || fi.Size != int64(len(data)) {
		t.Fatalf("stat from the second client: %+v, %v", fi, err)
	}
	if got := listAll(t, ctx, b, "raw/"); !maps.Equal(got, map[string]int64{"raw/x": 4096}) {
		t.Fatalf("list from the second client: %v", got)
	}
	put(t, ctx, b, "raw/x", data[:10])
	mustLoad(t, ctx, a, "raw/x", data[:10])
	if err := b.Delete(ctx, "raw/x"); err != nil {
		t.Fatalf("delete from the second client: %v", err)
	}
	_, err := a.Stat(ctx, "raw/x")
	mustNotFound(t, "stat after the other client deleted", err)
}

func testConcurrentPuts(t *testing.T, be storage.Backend) {
	ctx := ctxFor(t)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			data := randomBytes(uint64(200+i), 64<<10+i)
			if err := be.Put(ctx, fmt.Sprintf("conc/%02d", i), bytes.NewReader(data), int64(len(data))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent put: %v", err)
	}
	got := listAll(t, ctx, be, "conc/")
	if len(got) != n {
		t.Fatalf("list after concurrent puts: %d objects, want %d", len(got), n)
	}
	for i := range n {
		mustLoad(t, ctx, be, fmt.Sprintf("conc/%02d", i), randomBytes(uint64(200+i), 64<<10+i))
	}
}

func testCancelledPut(t *testing.T, be storage.Backend) {
	ctx := ctxFor(t)
	data := randomBytes(4, 4<<20)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err := be.Put(cctx, "cancel/before", bytes.NewReader(data), int64(len(data)))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("put with a cancelled context: error %v, want context.Canceled", err)
	}
	_, err = be.Stat(ctx, "cancel/before")
	mustNotFound(t, "stat after a cancelled put", err)

	old := []byte("the old version")
	put(t, ctx, be, "cancel/over", old)
	for _, name := range []string{"cancel/during", "cancel/over"} {
		cctx, cancel := context.WithCancel(ctx)
		body := &cancellingReader{data: data, ctx: cctx, cancel: cancel}
		if err := be.Put(cctx, name, body, int64(len(data))); err == nil {
			t.Errorf("put %s cancelled midway: no error", name)
		}
		cancel()
	}
	_, err = be.Stat(ctx, "cancel/during")
	mustNotFound(t, "stat after a put cancelled midway", err)
	mustLoad(t, ctx, be, "cancel/over", old)
	if got, want := listAll(t, ctx, be, ""), map[string]int64{"cancel/over": int64(len(old))}; !maps.Equal(got, want) {
		t.Errorf("list after cancelled puts: got %v, want %v", got, want)
	}
}

func testCancelledLoad(t *testing.T, be storage.Backend) {
	ctx := ctxFor(t)
	put(t, ctx, be, "cl/x", []byte("x"))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	called := false
	err := be.Load(cctx, "cl/x", 0, 0, func(io.Reader) error { called = true; return nil })
	if !errors.Is(err, context.Canceled) || called {
		t.Errorf("load with a cancelled context: error %v, fn called %v; want context.Canceled, not called", err, called)
	}
	_, err = be.Stat(cctx, "cl/x")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("stat with a cancelled context: error %v, want context.Canceled", err)
	}
}

func testLoadFnError(t *testing.T, be storage.Backend) {
	ctx := ctxFor(t)
	put(t, ctx, be, "fn/x", randomBytes(5, 100))
	perm := storage.Permanent(errFn)
	calls := 0
	err := be.Load(ctx, "fn/x", 0, 0, func(rd io.Reader) error { calls++; return perm })
	if err != perm {
		t.Errorf("load: error %#v, want fn's error %#v as it is", err, perm)
	}
	if calls != 1 {
		t.Errorf("load: fn called %d times for a permanent error, want once", calls)
	}
	err = be.Load(ctx, "fn/x", 10, 10, func(rd io.Reader) error {
		if _, err := io.ReadFull(rd, make([]byte, 5)); err != nil {
			return err
		}
		return errFn
	})
	if !errors.Is(err, errFn) {
		t.Errorf("load: error %v, want fn's error", err)
	}
}
