package tracker

import "math/bits"

// BlockSize is the size of the blocks a tracker reports, in bytes.
const BlockSize = 4096

// Bitmap holds one bit per block of a disk. It is not safe for concurrent use.
type Bitmap struct {
	n     int64
	words []uint64
}

// NewBitmap returns an empty bitmap of n blocks.
func NewBitmap(n int64) *Bitmap {
	return &Bitmap{n: n, words: make([]uint64, (n+63)/64)}
}

// Len returns the number of blocks the bitmap covers.
func (b *Bitmap) Len() int64 { return b.n }

// Set marks block i; out of range blocks are ignored.
func (b *Bitmap) Set(i int64) {
	if i >= 0 && i < b.n {
		b.words[i/64] |= 1 << (i % 64)
	}
}

// SetRange marks blocks [first, first+n), clipped to the bitmap.
func (b *Bitmap) SetRange(first, n int64) {
	end := min(first+n, b.n)
	for i := max(first, 0); i < end; {
		if i%64 == 0 && end-i >= 64 {
			b.words[i/64] = ^uint64(0)
			i += 64
			continue
		}
		b.words[i/64] |= 1 << (i % 64)
		i++
	}
}

// Has reports whether block i is marked.
func (b *Bitmap) Has(i int64) bool {
	return i >= 0 && i < b.n && b.words[i/64]&(1<<(i%64)) != 0
}

// Or marks every block marked in o (which must cover the same number of blocks).
func (b *Bitmap) Or(o *Bitmap) {
	for i := range min(len(b.words), len(o.words)) {
		b.words[i] |= o.words[i]
	}
}

// Count returns the number of marked blocks.
func (b *Bitmap) Count() int64 {
	var c int
	for _, w := range b.words {
		c += bits.OnesCount64(w)
	}
	return int64(c)
}

// Next returns the first marked block at or after i, or -1.
func (b *Bitmap) Next(i int64) int64 {
	if i < 0 {
		i = 0
	}
	for i < b.n {
		w := b.words[i/64] >> (i % 64)
		if w != 0 {
			j := i + int64(bits.TrailingZeros64(w))
			if j < b.n {
				return j
			}
			return -1
		}
		i = (i/64 + 1) * 64
	}
	return -1
}

// Clear unmarks every block.
func (b *Bitmap) Clear() { clear(b.words) }

// Bytes returns the memory the bitmap holds, for the tracking-state figures.
func (b *Bitmap) Bytes() int64 { return int64(len(b.words)) * 8 }

// OrWord marks the blocks set in v among blocks [64*w, 64*w+64) (a word of a kernel bitmap);
// blocks beyond the bitmap are ignored.
func (b *Bitmap) OrWord(w int64, v uint64) {
	if w < 0 || w >= int64(len(b.words)) {
		return
	}
	if end := b.n - 64*w; end < 64 {
		v &= (1 << end) - 1
	}
	b.words[w] |= v
}
