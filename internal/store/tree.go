package store

import (
	"fmt"
	"math/bits"

	"github.com/opensiterecovery/osr/internal/crypto"
)

// Tree node encodings (plaintext of tree blobs):
//
//	leaf:     'L' uvarint(span) bitmap[ceil(span/8)] fingerprint[16]×present
//	          uvarint(nExtents) { uvarint(start) uvarint(count) uvarint(blobOffset) blobID }...
//	interior: 'I' uvarint(fanout) bitmap[ceil(fanout/8)] childID×present
//
// A leaf covers span consecutive blocks; an absent block reads as zeros. An extent maps count blocks
// from start onto consecutive blocks of a data blob, from block blobOffset. Extents are sorted,
// do not overlap and cover exactly the present blocks.

const (
	maxLeafBlocks = 64
	maxFanout     = 256
	fpSize        = 16
)

// fingerprint is XXH3-128 of one block: fast change detection and an end-to-end check of every
// block read back.
type fingerprint [fpSize]byte

type blockRef struct {
	blob ID
	off  uint16 // block index inside the blob
}

// leaf is a decoded leaf node.
type leaf struct {
	span    int
	present uint64
	fp      [maxLeafBlocks]fingerprint
	ref     [maxLeafBlocks]blockRef
}

func (l *leaf) has(i int) bool { return l.present&(1<<uint(i)) != 0 }
func (l *leaf) empty() bool    { return l.present == 0 }
func (l *leaf) count() int     { return bits.OnesCount64(l.present) }

type extent struct {
	start, count int
	blob         ID
	off          int
}

// extents returns the leaf's runs of blocks that map onto consecutive blocks of one blob.
func (l *leaf) extents() []extent {
	var out []extent
	for i := 0; i < l.span; i++ {
		if !l.has(i) {
			continue
		}
		r := l.ref[i]
		if n := len(out); n > 0 {
			e := &out[n-1]
			if e.start+e.count == i && e.blob == r.blob && e.off+e.count == int(r.off) {
				e.count++
				continue
			}
		}
		out = append(out, extent{start: i, count: 1, blob: r.blob, off: int(r.off)})
	}
	return out
}

func bitmapLen(n int) int { return (n + 7) / 8 }

func encodeLeaf(l *leaf) []byte {
	ext := l.extents()
	b := make([]byte, 0, 2+bitmapLen(l.span)+l.count()*fpSize+len(ext)*(crypto.IDSize+4))
	b = append(b, 'L')
	b = appendUvarint(b, uint64(l.span))
	for i := 0; i < bitmapLen(l.span); i++ {
		b = append(b, byte(l.present>>(8*i)))
	}
	for i := 0; i < l.span; i++ {
		if l.has(i) {
			b = append(b, l.fp[i][:]...)
		}
	}
	b = appendUvarint(b, uint64(len(ext)))
	for _, e := range ext {
		b = appendUvarint(b, uint64(e.start))
		b = appendUvarint(b, uint64(e.count))
		b = appendUvarint(b, uint64(e.off))
		b = append(b, e.blob[:]...)
	}
	return b
}

func decodeLeaf(b []byte) (*leaf, error) {
	d := &decoder{b: b, what: "leaf node"}
	if d.byte1() != 'L' {
		return nil, corruptf("leaf node: bad type")
	}
	span := d.uvarint()
	if d.err == nil && (span == 0 || span > maxLeafBlocks) {
		return nil, corruptf("leaf node: span %d out of range", span)
	}
	l := &leaf{span: int(span)}
	bm := d.bytes(bitmapLen(l.span))
	for i, v := range bm {
		l.present |= uint64(v) << (8 * i)
	}
	if l.present>>uint(l.span) != 0 && l.span < 64 {
		return nil, corruptf("leaf node: bits set beyond span")
	}
	for i := 0; i < l.span; i++ {
		if l.has(i) {
			copy(l.fp[i][:], d.bytes(fpSize))
		}
	}
	n := d.uvarint()
	if n > uint64(l.span) {
		d.fail("too many extents")
	}
	var covered uint64
	next := 0
	for i := uint64(0); i < n && d.err == nil; i++ {
		start, count, off := d.uvarint(), d.uvarint(), d.uvarint()
		blob := d.id()
		if d.err != nil {
			break
		}
		if start < uint64(next) || start >= uint64(l.span) || count == 0 || count > uint64(l.span)-start || off >= 1<<16 || count > 1<<16-off {
			d.fail("extent out of range")
			break
		}
		for j := 0; j < int(count); j++ {
			l.ref[int(start)+j] = blockRef{blob: blob, off: uint16(int(off) + j)}
			covered |= 1 << (start + uint64(j))
		}
		next = int(start + count)
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	if covered != l.present {
		return nil, corruptf("leaf node: extents do not cover exactly the present blocks")
	}
	return l, nil
}

// interior is a decoded interior node.
type interior struct {
	fanout   int
	children []ID // len fanout; zero ID = absent (all zeros)
}

func newInterior(fanout int) *interior {
	return &interior{fanout: fanout, children: make([]ID, fanout)}
}

func (n *interior) empty() bool {
	for _, c := range n.children {
		if !c.IsZero() {
			return false
		}
	}
	return true
}

func encodeInterior(n *interior) []byte {
	b := make([]byte, 0, 2+bitmapLen(n.fanout)+n.fanout*crypto.IDSize)
	b = append(b, 'I')
	b = appendUvarint(b, uint64(n.fanout))
	bm := make([]byte, bitmapLen(n.fanout))
	for i, c := range n.children {
		if !c.IsZero() {
			bm[i/8] |= 1 << (i % 8)
		}
	}
	b = append(b, bm...)
	for _, c := range n.children {
		if !c.IsZero() {
			b = append(b, c[:]...)
		}
	}
	return b
}

func decodeInterior(b []byte) (*interior, error) {
	d := &decoder{b: b, what: "interior node"}
	if d.byte1() != 'I' {
		return nil, corruptf("interior node: bad type")
	}
	f := d.uvarint()
	if d.err == nil && (f < 2 || f > maxFanout) {
		return nil, corruptf("interior node: fanout %d out of range", f)
	}
	n := newInterior(int(f))
	bm := d.bytes(bitmapLen(n.fanout))
	if d.err == nil && n.fanout%8 != 0 && bm[len(bm)-1]>>(n.fanout%8) != 0 {
		return nil, corruptf("interior node: bits set beyond fanout")
	}
	for i := 0; i < n.fanout && d.err == nil; i++ {
		if bm[i/8]&(1<<(i%8)) != 0 {
			n.children[i] = d.id()
			if d.err == nil && n.children[i].IsZero() {
				d.fail("zero child id")
			}
		}
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return n, nil
}

// geometry is the shape of one disk's tree.
type geometry struct {
	size       int64
	blockSize  int
	leafBlocks int
	fanout     int
}

func (g geometry) validate() error {
	if g.blockSize != BlockSize {
		return fmt.Errorf("block size %d is not supported", g.blockSize)
	}
	if g.leafBlocks < 1 || g.leafBlocks > maxLeafBlocks || g.fanout < 2 || g.fanout > maxFanout || g.size < 0 || g.size > 1<<56 {
		return fmt.Errorf("tree geometry out of range: %d blocks per leaf, fanout %d, size %d", g.leafBlocks, g.fanout, g.size)
	}
	return nil
}

func (g geometry) blocks() int64    { return (g.size + int64(g.blockSize) - 1) / int64(g.blockSize) }
func (g geometry) leafBytes() int64 { return int64(g.leafBlocks * g.blockSize) }
func (g geometry) leaves() int64 {
	return (g.blocks() + int64(g.leafBlocks) - 1) / int64(g.leafBlocks)
}

// height is the number of interior levels above the leaves: the root is at level height.
func (g geometry) height() int {
	h, cover := 0, int64(1)
	for cover < g.leaves() {
		cover *= int64(g.fanout)
		h++
	}
	return h
}

// span returns how many leaves a node at level k covers.
func (g geometry) span(k int) int64 {
	s := int64(1)
	for i := 0; i < k; i++ {
		s *= int64(g.fanout)
	}
	return s
}
