package store

import (
	"context"
	"fmt"
)

// FingerprintSize is the size of a block fingerprint: XXH3-128 of the block's 4 KiB.
const FingerprintSize = fpSize

// ZeroFingerprint returns the fingerprint of an all-zero block, which is what absent blocks read as.
func ZeroFingerprint() [FingerprintSize]byte { return zeroFP }

var zeroFP = [FingerprintSize]byte(fingerprintOf(make([]byte, BlockSize)))

// Blocks returns the number of 4 KiB blocks of the disk (the last one may be short).
func (dr *DiskReader) Blocks() int64 { return dr.g.blocks() }

// Fingerprints fills out with the fingerprints of blocks first, first+1, … of the disk, as the
// point holds them, reading only tree nodes (never data). Absent blocks get ZeroFingerprint. The
// range must lie inside the disk. It is safe for concurrent use; agents compare these with their
// source's blocks to resynchronise and verify.
func (dr *DiskReader) Fingerprints(ctx context.Context, first int64, out [][FingerprintSize]byte) error {
	n := int64(len(out))
	if first < 0 || n == 0 || first+n > dr.g.blocks() {
		return fmt.Errorf("fingerprints of blocks %d..%d: the disk has %d blocks", first, first+n, dr.g.blocks())
	}
	for i := range out {
		out[i] = zeroFP
	}
	lb := int64(dr.g.leafBlocks)
	lo, hi := first/lb, ceilDiv(first+n, lb)
	// Walk in batches of leaves so interior nodes are prefetched with few requests.
	const batch = 4096
	for b := lo; b < hi; b += batch {
		e := min(b+batch, hi)
		ids, err := leafIDs(ctx, dr.r, dr.r, dr.root, dr.g, dr.h, b, e)
		if err != nil {
			return dr.where(b*dr.g.leafBytes(), err)
		}
		if err := dr.r.prefetchNodes(ctx, ids); err != nil {
			return dr.where(b*dr.g.leafBytes(), err)
		}
		for k, id := range ids {
			if id.IsZero() {
				continue
			}
			li := b + int64(k)
			l, err := loadLeaf(ctx, dr.r, id, dr.g)
			if err != nil {
				return dr.where(li*dr.g.leafBytes(), err)
			}
			for i := 0; i < l.span; i++ {
				blk := li*lb + int64(i)
				if blk < first || blk >= first+n || !l.has(i) {
					continue
				}
				out[blk-first] = l.fp[i]
			}
		}
	}
	return nil
}
