package store

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"golang.org/x/sync/errgroup"
)

// fastImage returns size bytes of random data with every fourth block zero (cheaper than
// randomImage for images of tens of MiB).
func fastImage(seed uint64, size int) []byte {
	rng := rand.New(rand.NewPCG(seed, 2))
	img := make([]byte, size)
	for off := 0; off < size; off += 8 {
		if (off/BlockSize)%4 == 3 {
			continue
		}
		v := rng.Uint64()
		for k := 0; k < 8 && off+k < size; k++ {
			img[off+k] = byte(v >> (8 * k))
		}
	}
	return img
}

// leafView is what a test sees of one leaf of a disk writer.
type leafView struct {
	known   bool // the writer has touched the leaf
	flushed bool
	npend   int // blocks buffered
}

func viewLeaf(dw *DiskWriter, li int64) leafView {
	dw.mu.Lock()
	ls := dw.leaves[li]
	dw.mu.Unlock()
	if ls == nil {
		return leafView{}
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if (ls.pending == nil) != (ls.npend == 0) {
		panic(fmt.Sprintf("leaf %d: pending %v with %d blocks", li, ls.pending != nil, ls.npend))
	}
	return leafView{known: true, flushed: ls.flushed, npend: ls.npend}
}

// flushWrite is one WriteAt of the flush-behind test.
type flushWrite struct {
	off  int64
	data []byte
}

// A point of partial writes, one block or less in each of many leaves in disk order over more
// than three times flushBehind: the leaves that end flushBehind before the newest write are
// flushed as the writes go, the rest wait for the commit. Blocks written later into leaves
// already flushed (a new block, a block written again, a block written back to zeros) are merged
// into them. The point reads back byte for byte, over a base point as without one.
func TestFlushBehind(t *testing.T) {
	const size = 3*flushBehind + 4<<20 + 3*BlockSize // 28 MiB and 3 blocks: the last leaf is short
	lb := int64(LeafBlocks * BlockSize)
	leaves := (int64(size) + lb - 1) / lb
	for _, tc := range []struct {
		name       string
		base       bool
		concurrent bool // four writers take the writes in turn, as the process server's appliers do
	}{
		{"full point", false, false},
		{"delta over a base", true, false},
		{"delta over a base, four writers", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r, _ := newTestRepo(t)
			spec := []DiskSpec{{Name: "sda", Size: size}}
			want := make([]byte, size)
			var parent *Point
			if tc.base {
				want = fastImage(5, size)
				parent = putImage(t, r, "db01", nil, map[string][]byte{"sda": want})
				want = bytes.Clone(want)
			}
			rng := rand.New(rand.NewPCG(6, 7))
			data := func(n int) []byte {
				b := make([]byte, n)
				for i := range b {
					b[i] = byte(rng.Uint32())
				}
				return b
			}
			// Leaves 0, 1, 2, then every second or third one to the end; in each, one block at a
			// place that moves around the leaf, or in every fifth a write of 1000 bytes within a
			// block (its other bytes come from the base).
			var writes []flushWrite
			for li, step := int64(0), int64(1); li < leaves; li += step {
				if li >= 2 {
					step = 2 + li%2
				}
				nb := int64(min(LeafBlocks, (int64(size)-li*lb+BlockSize-1)/BlockSize))
				bi := (li * 7) % nb
				off := li*lb + bi*BlockSize
				if li%5 == 4 {
					writes = append(writes, flushWrite{off + 100, data(1000)})
				} else {
					writes = append(writes, flushWrite{off, data(int(min(BlockSize, int64(size)-off)))})
				}
			}
			w, err := r.NewWriter(ctx, "db01", parent, spec)
			if err != nil {
				t.Fatal(err)
			}
			dw := w.Disk("sda")
			write := func(fw flushWrite) error {
				if n, err := dw.WriteAt(fw.data, fw.off); err != nil || n != len(fw.data) {
					return fmt.Errorf("write of %d bytes at %d: %d, %v", len(fw.data), fw.off, n, err)
				}
				return nil
			}
			// check asserts each written leaf's state after a write that reached reach: flushed
			// with nothing buffered if it ends flushBehind before, else its block buffered.
			check := func(upto int, reach int64) {
				t.Helper()
				var pend int64
				for _, fw := range writes[:upto] {
					li := fw.off / lb
					v := viewLeaf(dw, li)
					if (li+1)*lb <= reach-flushBehind {
						if !v.known || !v.flushed || v.npend != 0 {
							t.Fatalf("after a write at %d, leaf %d (ends at %d): %+v; want flushed", reach, li, (li+1)*lb, v)
						}
					} else if !v.known || v.flushed || v.npend != 1 {
						t.Fatalf("after a write at %d, leaf %d (ends at %d): %+v; want one block buffered", reach, li, (li+1)*lb, v)
					}
					pend += int64(v.npend) * BlockSize
				}
				if got := dw.pendingB.Load(); got != pend {
					t.Fatalf("%d bytes buffered, the leaves hold %d", got, pend)
				}
			}
			for _, fw := range writes {
				copy(want[fw.off:], fw.data)
			}
			if tc.concurrent {
				var g errgroup.Group
				for k := range 4 {
					g.Go(func() error {
						for i := k; i < len(writes); i += 4 {
							if err := write(writes[i]); err != nil {
								return err
							}
						}
						return nil
					})
				}
				if err := g.Wait(); err != nil {
					t.Fatal(err)
				}
			} else {
				for i, fw := range writes {
					if err := write(fw); err != nil {
						t.Fatal(err)
					}
					if i == len(writes)/2 || i == len(writes)-1 {
						check(i+1, fw.off)
					}
				}
			}
			last := writes[len(writes)-1].off
			if last < 3*flushBehind {
				t.Fatalf("the writes reach %d, want more than %d", last, 3*flushBehind)
			}
			var early int
			for _, fw := range writes {
				if viewLeaf(dw, fw.off/lb).flushed {
					early++
				}
			}
			t.Logf("%d writes to %d of %d leaves; %d leaves flushed before the commit", len(writes), len(writes), leaves, early)

			// Late blocks into leaves 0, 1 and 2, flushed long ago: a new block, a block written
			// again, and a block of the base (or of leaf 2's early write) written back to zeros.
			for _, li := range []int64{0, 1, 2} {
				if v := viewLeaf(dw, li); !tc.concurrent && (!v.flushed || v.npend != 0) {
					t.Fatalf("leaf %d before the late writes: %+v", li, v)
				}
			}
			late := []flushWrite{
				{0*lb + 20*BlockSize, data(BlockSize)},
				{writes[1].off, data(BlockSize)},
				{writes[2].off, make([]byte, BlockSize)},
			}
			for _, fw := range late {
				if err := write(fw); err != nil {
					t.Fatal(err)
				}
				copy(want[fw.off:], fw.data)
			}
			for _, li := range []int64{0, 1, 2} {
				if v := viewLeaf(dw, li); !tc.concurrent && (!v.flushed || v.npend != 1) {
					t.Fatalf("leaf %d after its late write: %+v; want flushed with one block buffered", li, v)
				}
			}
			pt, err := w.Commit(ctx, CommitMeta{})
			if err != nil {
				t.Fatal(err)
			}
			if got := dw.pendingB.Load(); got != 0 {
				t.Fatalf("%d bytes still buffered after the commit", got)
			}
			got := exportDisk(t, r, pt, "sda")
			for _, fw := range append(writes[:3:3], late...) {
				blk := fw.off / BlockSize * BlockSize
				if !bytes.Equal(got[blk:blk+BlockSize], want[blk:blk+BlockSize]) {
					t.Errorf("block at %d (leaf %d) differs", blk, blk/lb)
				}
			}
			sameBytes(t, "point", got, want)
		})
	}
}
