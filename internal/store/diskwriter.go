package store

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// pendingLimit bounds the bytes of partial-leaf writes a disk writer buffers before it flushes.
const pendingLimit = 64 << 20

// regionShift groups leaves into regions of 64 (8 MiB) to find quickly what a writer touched.
const regionShift = 6

// flushBehind: a partial leaf that ends this far before the offset a write reaches is flushed by
// that write, without waiting for the commit. Writes come in disk order, give or take what the
// writers have in flight (a few frames of 1 MiB), so such a leaf rarely gets another block; if it
// does, the block is merged into the flushed leaf as into any other. A delta of scattered blocks
// is all partial leaves: flushed only at commit, the point's whole upload would wait for its end.
const flushBehind = 8 << 20

// prefetchWindow is how many base leaves are loaded at once for sequential writes.
const prefetchWindow = 256

var zeroBlock = make([]byte, BlockSize)

// runBufs holds buffers for one data blob being assembled.
var runBufs = sync.Pool{New: func() any { b := make([]byte, 0, maxBlobBytes); return &b }}

// DiskWriter writes one disk of a point. It is safe for concurrent use.
type DiskWriter struct {
	w        *Writer
	name     string
	g        geometry
	h        int
	baseG    geometry
	baseH    int
	baseRoot ID

	mu       sync.Mutex
	leaves   map[int64]*leafState
	regions  map[int64]struct{} // leaf index >> regionShift of every leaf in leaves
	windows  map[int64]*sync.Once
	pendingB atomic.Int64
	partial  []int64 // leaves that got buffered blocks, in the order they got them
}

// leafState is what the writer knows of one leaf it touched.
type leafState struct {
	mu      sync.Mutex
	pending *[maxLeafBlocks][]byte // buffered blocks of partial writes
	npend   int
	flushed bool // id is the leaf's new content
	changed bool // id differs from the base leaf
	id      ID   // zero: all zeros
}

func newDiskWriter(w *Writer, ds DiskSpec) (*DiskWriter, error) {
	g := geometry{size: ds.Size, blockSize: BlockSize, leafBlocks: LeafBlocks, fanout: Fanout}
	if err := g.validate(); err != nil {
		return nil, fmt.Errorf("disk %s: %w", ds.Name, err)
	}
	dw := &DiskWriter{w: w, name: ds.Name, g: g, h: g.height(), leaves: map[int64]*leafState{}, regions: map[int64]struct{}{}, windows: map[int64]*sync.Once{}}
	if w.parent != nil {
		if bd, ok := w.parent.Disk(ds.Name); ok {
			bg := bd.geometry()
			if bg.blockSize != g.blockSize || bg.leafBlocks != g.leafBlocks || bg.fanout != g.fanout {
				return nil, fmt.Errorf("disk %s: parent point %s has another tree geometry; write a full point (no parent)", ds.Name, w.parent.ID)
			}
			if bg.size > g.size {
				return nil, fmt.Errorf("disk %s shrank from %d to %d bytes; write a full point (no parent)", ds.Name, bg.size, g.size)
			}
			root, err := bd.root()
			if err != nil {
				return nil, err
			}
			dw.baseG, dw.baseH, dw.baseRoot = bg, bg.height(), root
		}
	}
	return dw, nil
}

// Size returns the disk's size in bytes.
func (dw *DiskWriter) Size() int64 { return dw.g.size }

func (dw *DiskWriter) state(li int64) *leafState {
	dw.mu.Lock()
	defer dw.mu.Unlock()
	ls := dw.leaves[li]
	if ls == nil {
		ls = &leafState{}
		dw.leaves[li] = ls
		dw.regions[li>>regionShift] = struct{}{}
	}
	return ls
}

// blocksIn returns how many blocks leaf li has (the last leaf may be short).
func (dw *DiskWriter) blocksIn(li int64) int {
	return int(min(int64(dw.g.leafBlocks), dw.g.blocks()-li*int64(dw.g.leafBlocks)))
}

// WriteAt writes p at byte offset off. It is safe to call concurrently; concurrent writes to the
// same bytes land in some order. p may change during the call (a mapped live disk): what is
// stored is a copy, and its fingerprints are those of the copy.
func (dw *DiskWriter) WriteAt(p []byte, off int64) (int, error) { return dw.writeAt(p, off, false) }

// WriteOwnedAt is WriteAt for a p that nothing changes until the call returns (a private copy,
// such as the process server's frames): blocks are hashed and stored straight from p.
func (dw *DiskWriter) WriteOwnedAt(p []byte, off int64) (int, error) {
	return dw.writeAt(p, off, true)
}

func (dw *DiskWriter) writeAt(p []byte, off int64, owned bool) (int, error) {
	if err := dw.w.open(); err != nil {
		return 0, err
	}
	if off < 0 || off+int64(len(p)) > dw.g.size {
		return 0, fmt.Errorf("write of %d bytes at %d is outside disk %s of %d bytes", len(p), off, dw.name, dw.g.size)
	}
	lb := dw.g.leafBytes()
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		li := pos / lb
		leafStart := li * lb
		leafLen := min(lb, dw.g.size-leafStart)
		take := int(min(int64(len(p)-n), leafStart+leafLen-pos))
		var err error
		if pos == leafStart && int64(take) == leafLen {
			err = dw.writeLeaf(li, p[n:n+take], owned)
		} else {
			err = dw.writePartial(li, int(pos-leafStart), p[n:n+take])
		}
		if err != nil {
			return n, err
		}
		n += take
	}
	return n, dw.flushBefore(off - flushBehind)
}

// flushBefore flushes the buffered partial leaves that end at or before byte offset end, oldest
// first.
func (dw *DiskWriter) flushBefore(end int64) error {
	lb := dw.g.leafBytes()
	for {
		dw.mu.Lock()
		if len(dw.partial) == 0 || (dw.partial[0]+1)*lb > end {
			dw.mu.Unlock()
			return nil
		}
		li := dw.partial[0]
		dw.partial = dw.partial[1:]
		ls := dw.leaves[li]
		dw.mu.Unlock()
		ls.mu.Lock()
		err := dw.flushPending(li, ls)
		ls.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// writeLeaf replaces a whole leaf; owned as for WriteOwnedAt.
func (dw *DiskWriter) writeLeaf(li int64, p []byte, owned bool) error {
	ls := dw.state(li)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var blocks [maxLeafBlocks][]byte
	nb := dw.blocksIn(li)
	for i := 0; i < nb; i++ {
		b := p[i*BlockSize : min(len(p), (i+1)*BlockSize)]
		if len(b) < BlockSize { // last block of a disk whose size is not a multiple of the block
			b = append(append(make([]byte, 0, BlockSize), b...), zeroBlock[len(b):]...)
		}
		blocks[i] = b
	}
	dw.dropPending(ls)
	if !owned {
		p = nil
	}
	return dw.flushLeaf(li, ls, &blocks, p)
}

// writePartial buffers blocks of a leaf that is not written whole.
func (dw *DiskWriter) writePartial(li int64, at int, p []byte) error {
	ls := dw.state(li)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.pending == nil {
		ls.pending = new([maxLeafBlocks][]byte)
		dw.mu.Lock()
		dw.partial = append(dw.partial, li)
		dw.mu.Unlock()
	}
	for len(p) > 0 {
		bi, bo := at/BlockSize, at%BlockSize
		take := min(len(p), BlockSize-bo)
		buf := ls.pending[bi]
		if buf == nil {
			buf = make([]byte, BlockSize)
			if bo != 0 || take != BlockSize {
				if err := dw.currentBlock(li, ls, bi, buf); err != nil {
					return err
				}
			}
			ls.pending[bi] = buf
			ls.npend++
			dw.pendingB.Add(BlockSize)
		}
		copy(buf[bo:], p[:take])
		p, at = p[take:], at+take
	}
	if ls.npend == dw.blocksIn(li) || dw.pendingB.Load() > pendingLimit {
		return dw.flushPending(li, ls)
	}
	return nil
}

func (dw *DiskWriter) dropPending(ls *leafState) {
	if ls.pending != nil {
		dw.pendingB.Add(-int64(ls.npend) * BlockSize)
		ls.pending, ls.npend = nil, 0
	}
}

func (dw *DiskWriter) flushPending(li int64, ls *leafState) error {
	if ls.pending == nil {
		return nil
	}
	blocks := ls.pending
	dw.dropPending(ls)
	return dw.flushLeaf(li, ls, blocks, nil)
}

// flushAll writes every buffered block, leaves in disk order spread over one goroutine per CPU:
// a delta of scattered blocks is mostly partial leaves, which are all flushed here at commit.
func (dw *DiskWriter) flushAll(ctx context.Context) error {
	dw.mu.Lock()
	todo := make([]int64, 0, len(dw.leaves))
	states := make(map[int64]*leafState, len(dw.leaves))
	for li, ls := range dw.leaves {
		todo = append(todo, li)
		states[li] = ls
	}
	dw.mu.Unlock()
	slices.Sort(todo)
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for range min(runtime.GOMAXPROCS(0), max(1, len(todo))) {
		g.Go(func() error {
			for {
				k := next.Add(1) - 1
				if k >= int64(len(todo)) {
					return nil
				}
				li := todo[k]
				ls := states[li]
				ls.mu.Lock()
				err := dw.flushPending(li, ls)
				ls.mu.Unlock()
				if err != nil {
					return err
				}
				if err := gctx.Err(); err != nil {
					return err
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// currentLeaf returns the leaf as this writer sees it now (nil: all zeros). Caller holds ls.mu.
func (dw *DiskWriter) currentLeaf(li int64, ls *leafState) (*leaf, error) {
	ctx := dw.w.ctx
	if ls.flushed {
		if ls.id.IsZero() {
			return nil, nil
		}
		return loadLeaf(ctx, dw.w, ls.id, dw.g)
	}
	if dw.baseRoot.IsZero() || li >= dw.baseG.leaves() {
		return nil, nil
	}
	dw.prefetch(li)
	id, err := nodeAt(ctx, dw.w, dw.baseRoot, dw.baseG, dw.baseH, 0, li)
	if err != nil || id.IsZero() {
		return nil, err
	}
	return loadLeaf(ctx, dw.w, id, dw.g)
}

// currentBlock reads block bi of leaf li as this writer sees it now into buf.
func (dw *DiskWriter) currentBlock(li int64, ls *leafState, bi int, buf []byte) error {
	l, err := dw.currentLeaf(li, ls)
	if err != nil || l == nil || !l.has(bi) {
		clear(buf)
		return err
	}
	data, err := dw.w.blob(dw.w.ctx, l.ref[bi].blob)
	if err != nil {
		return err
	}
	o := int(l.ref[bi].off) * BlockSize
	if o+BlockSize > len(data) {
		return corruptf("blob %s is shorter than leaf extent", l.ref[bi].blob.Short())
	}
	copy(buf, data[o:o+BlockSize])
	return nil
}

// prefetch loads the base leaves around li in bulk, once per window, and starts on the next window.
func (dw *DiskWriter) prefetch(li int64) {
	win := li / prefetchWindow
	dw.windowOnce(win).Do(func() { dw.loadWindow(win) })
	if next := win + 1; next*prefetchWindow < dw.baseG.leaves() {
		once := dw.windowOnce(next)
		go once.Do(func() { dw.loadWindow(next) })
	}
}

func (dw *DiskWriter) windowOnce(win int64) *sync.Once {
	dw.mu.Lock()
	defer dw.mu.Unlock()
	o := dw.windows[win]
	if o == nil {
		o = new(sync.Once)
		dw.windows[win] = o
	}
	return o
}

func (dw *DiskWriter) loadWindow(win int64) {
	lo := win * prefetchWindow
	hi := min(lo+prefetchWindow, dw.baseG.leaves())
	ids, err := leafIDs(dw.w.ctx, dw.w.r, dw.w, dw.baseRoot, dw.baseG, dw.baseH, lo, hi)
	if err == nil {
		err = dw.w.r.prefetchNodes(dw.w.ctx, ids)
	}
	if err != nil {
		// Prefetching is an optimisation: the leaf load that needs the node reports the error.
		dw.w.r.opts.Logger.Debug("prefetch of base leaves failed", "disk", dw.name, "err", err)
	}
}
