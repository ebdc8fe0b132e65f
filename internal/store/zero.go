package store

import "fmt"

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
