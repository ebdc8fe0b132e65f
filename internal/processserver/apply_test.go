package processserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/opensiterecovery/osr/internal/store"
)

// The applier's result is the result of writing the frames one by one in order, however its
// workers interleave: overlapping frames (data over data, zeros over data, data over zeros, partial
// blocks of a leaf) land in order.
func TestApplierKeepsFrameOrder(t *testing.T) {
	const size = 4 << 20
	type op struct {
		zero bool
		off  int64
		n    int64
		seed uint64
	}
	cases := []struct {
		name string
		ops  []op
	}{
		{"disjoint", []op{{false, 0, 1 << 20, 1}, {false, 1 << 20, 1 << 20, 2}, {false, 3 << 20, 1 << 20, 3}}},
		{"same range rewritten", []op{{false, 0, 1 << 20, 1}, {false, 0, 1 << 20, 2}, {false, 0, 1 << 20, 3}}},
		{"zeros over data", []op{{false, 0, 2 << 20, 1}, {true, 4096, 1 << 20, 0}, {false, 2 << 20, 8192, 2}}},
		{"data over zeros", []op{{true, 0, size, 0}, {false, 8192, 12288, 4}, {false, 1 << 20, 1 << 20, 5}}},
		{"partial blocks of one leaf", []op{{false, 4096, 4096, 1}, {false, 0, 16384, 2}, {false, 8192, 4096, 3}, {true, 0, 4096, 0}}},
		{"many overlapping", func() []op {
			r := rand.New(rand.NewPCG(7, 7))
			var ops []op
			for i := range 200 {
				off := int64(r.IntN(size/4096)) * 4096
				n := min(int64(1+r.IntN(64))*4096, size-off)
				ops = append(ops, op{zero: i%7 == 3, off: off, n: n, seed: uint64(i + 10)})
			}
			return ops
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 0, nil)
			ctx := context.Background()
			w, err := e.repo.NewWriter(ctx, "web01", nil, []store.DiskSpec{{Name: "sda", Size: size}})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			var written atomic.Int64
			ap := newApplier(3, func(n int64) { written.Add(n) })
			want := make([]byte, size)
			var wantWritten int64
			dw := w.Disk("sda")
			for _, o := range tc.ops {
				if o.zero {
					clear(want[o.off : o.off+o.n])
					if err := ap.zero("sda", dw, o.off, o.n); err != nil {
						t.Fatal(err)
					}
					continue
				}
				data := make([]byte, o.n)
				r := rand.New(rand.NewPCG(o.seed, 1))
				for i := 0; i < len(data); i += 8 {
					binary.LittleEndian.PutUint64(data[i:], r.Uint64())
				}
				copy(want[o.off:], data)
				wantWritten += o.n
				if err := ap.write("sda", dw, o.off, data); err != nil {
					t.Fatal(err)
				}
				clear(data) // the applier owns a copy
			}
			if err := ap.wait(); err != nil {
				t.Fatal(err)
			}
			if got := written.Load(); got != wantWritten {
				t.Fatalf("progress counted %d bytes, want %d", got, wantWritten)
			}
			pt, err := w.Commit(ctx, store.CommitMeta{Consistency: store.CrashConsistent})
			if err != nil {
				t.Fatal(err)
			}
			if got := exportDisk(t, e.repo, pt.ID, "sda"); !bytes.Equal(got, want) {
				t.Fatal("committed disk differs from the frames written in order")
			}
		})
	}
}

// A failed write is reported by the next write and by wait, with the disk's name.
func TestApplierReportsFirstError(t *testing.T) {
	e := newEnv(t, 0, nil)
	ctx := context.Background()
	w, err := e.repo.NewWriter(ctx, "web01", nil, []store.DiskSpec{{Name: "sda", Size: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	ap := newApplier(2, nil)
	dw := w.Disk("sda")
	if err := ap.write("sda", dw, 1<<20-4096, make([]byte, 8192)); err != nil {
		t.Fatal(err) // queued; it fails in a worker
	}
	const want = "disk sda: write of 8192 bytes at 1044480 is outside disk sda of 1048576 bytes"
	err = ap.wait()
	if err == nil || err.Error() != want {
		t.Fatalf("wait: %v, want %s", err, want)
	}
	if err := ap.write("sda", dw, 0, make([]byte, 4096)); err == nil || err.Error() != want {
		t.Fatalf("write after the failure: %v, want %s", err, want)
	}
}
