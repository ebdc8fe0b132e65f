package store

import (
	"bytes"
	"context"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/zeebo/xxh3"
)

// pendingLimit bounds the bytes of partial-leaf writes a disk writer buffers before it flushes.
const pendingLimit = 64 << 20

// regionShift groups leaves into regions of 64 (8 MiB) to find quickly what a writer touched.
const regionShift = 6

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
// same bytes land in some order.
func (dw *DiskWriter) WriteAt(p []byte, off int64) (int, error) {
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
			err = dw.writeLeaf(li, p[n:n+take])
		} else {
			err = dw.writePartial(li, int(pos-leafStart), p[n:n+take])
		}
		if err != nil {
			return n, err
		}
		n += take
	}
	return n, nil
}

// ZeroRange makes a range read as zeros (discard, write-zeroes, or a hole in the source). Parts
// that are zero already, in the parent and in this writer, cost nothing: whole zero subtrees of the
// parent are skipped at once.
func (dw *DiskWriter) ZeroRange(off, length int64) error {
	if off < 0 || length < 0 || off+length > dw.g.size {
		return fmt.Errorf("zero range of %d bytes at %d is outside disk %s of %d bytes", length, off, dw.name, dw.g.size)
	}
	lb := dw.g.leafBytes()
	end := off + length
	for off < end {
		li := off / lb
		if next, skip, err := dw.zeroUntil(li); err != nil {
			return err
		} else if skip {
			off = max(off, min(end, next*lb))
			continue
		}
		leafEnd := min((li+1)*lb, end)
		for o := off; o < leafEnd; o += BlockSize {
			chunk := zeroBlock[:min(int64(BlockSize), leafEnd-o)]
			if _, err := dw.WriteAt(chunk, o); err != nil {
				return err
			}
		}
		off = leafEnd
	}
	return nil
}

// zeroUntil reports whether leaf li reads as zeros in the parent and is untouched by this writer;
// if so, next is the first leaf after li for which that is not known.
func (dw *DiskWriter) zeroUntil(li int64) (next int64, zero bool, err error) {
	dw.mu.Lock()
	_, touched := dw.leaves[li]
	dw.mu.Unlock()
	if touched {
		return 0, false, nil
	}
	next = dw.g.leaves()
	if !dw.baseRoot.IsZero() && li < dw.baseG.leaves() {
		found := false
		for k := dw.baseH; k >= 0; k-- {
			span := dw.baseG.span(k)
			id, err := nodeAt(dw.w.ctx, dw.w, dw.baseRoot, dw.baseG, dw.baseH, k, li/span)
			if err != nil {
				return 0, false, err
			}
			if id.IsZero() {
				next, found = (li/span+1)*span, true
				break
			}
		}
		if !found {
			return 0, false, nil // the parent has data in this leaf
		}
	}
	// Stop before the first region this writer touched.
	dw.mu.Lock()
	defer dw.mu.Unlock()
	for r := li >> regionShift; r <= (next-1)>>regionShift; r++ {
		if _, ok := dw.regions[r]; ok {
			if first := r << regionShift; first > li {
				return first, true, nil
			}
			return li + 1, !dw.touchedLeaf(li), nil
		}
	}
	return next, true, nil
}

func (dw *DiskWriter) touchedLeaf(li int64) bool {
	_, ok := dw.leaves[li]
	return ok
}

// writeLeaf replaces a whole leaf.
func (dw *DiskWriter) writeLeaf(li int64, p []byte) error {
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
	return dw.flushLeaf(li, ls, &blocks)
}

// writePartial buffers blocks of a leaf that is not written whole.
func (dw *DiskWriter) writePartial(li int64, at int, p []byte) error {
	ls := dw.state(li)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.pending == nil {
		ls.pending = new([maxLeafBlocks][]byte)
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
	return dw.flushLeaf(li, ls, blocks)
}

// flushAll writes every buffered block.
func (dw *DiskWriter) flushAll(ctx context.Context) error {
	dw.mu.Lock()
	todo := make(map[int64]*leafState, len(dw.leaves))
	for li, ls := range dw.leaves {
		todo[li] = ls
	}
	dw.mu.Unlock()
	for li, ls := range todo {
		ls.mu.Lock()
		err := dw.flushPending(li, ls)
		ls.mu.Unlock()
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
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

func fingerprintOf(b []byte) fingerprint {
	h := xxh3.Hash128(b).Bytes()
	return fingerprint(h)
}

// flushLeaf merges blocks (nil entries: unchanged) into the leaf and stores what changed.
// Caller holds ls.mu.
func (dw *DiskWriter) flushLeaf(li int64, ls *leafState, blocks *[maxLeafBlocks][]byte) error {
	cur, err := dw.currentLeaf(li, ls)
	if err != nil {
		return fmt.Errorf("leaf %d: %w", li, err)
	}
	nl := leaf{span: dw.g.leafBlocks}
	if cur != nil {
		nl = *cur
	}
	var changed uint64
	removed := false
	for i := 0; i < dw.g.leafBlocks; i++ {
		b := blocks[i]
		if b == nil {
			continue
		}
		if bytes.Equal(b, zeroBlock) {
			if nl.has(i) {
				nl.present &^= 1 << uint(i)
				nl.ref[i] = blockRef{}
				nl.fp[i] = fingerprint{}
				removed = true
			}
			continue
		}
		fp := fingerprintOf(b)
		if nl.has(i) && nl.fp[i] == fp {
			continue
		}
		nl.fp[i] = fp
		nl.present |= 1 << uint(i)
		changed |= 1 << uint(i)
	}
	if changed == 0 && !removed {
		return nil
	}
	bp := runBufs.Get().(*[]byte)
	defer runBufs.Put(bp)
	run := *bp
	for i := 0; i < dw.g.leafBlocks; {
		if changed&(1<<uint(i)) == 0 {
			i++
			continue
		}
		// The blocks are copied before they are fingerprinted again and hashed: a source that
		// changes under us (a mapped live disk) must not make a blob differ from its ID or its
		// fingerprints.
		j := i
		run = run[:0]
		for j < dw.g.leafBlocks && changed&(1<<uint(j)) != 0 {
			run = append(run, blocks[j]...)
			nl.fp[j] = fingerprintOf(run[len(run)-BlockSize:])
			j++
		}
		id := dw.w.r.keys.Hash(run)
		if _, err := dw.w.p.add(id, DataBlob, run); err != nil {
			*bp = run[:0]
			return err
		}
		for k := i; k < j; k++ {
			nl.ref[k] = blockRef{blob: id, off: uint16(k - i)}
		}
		i = j
	}
	*bp = run[:0]
	dw.w.written.Add(int64(bits.OnesCount64(changed)))
	var newID ID
	if !nl.empty() {
		enc := encodeLeaf(&nl)
		newID = dw.w.r.keys.Hash(enc)
		if _, err := dw.w.p.add(newID, TreeBlob, enc); err != nil {
			return err
		}
		dw.w.r.nodes.put(newID, &nl)
	}
	ls.flushed, ls.changed, ls.id = true, true, newID
	return nil
}
