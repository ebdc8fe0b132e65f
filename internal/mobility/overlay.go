package mobility

import (
	"sort"

	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// overlay is the fingerprints one point gives to blocks of one disk. A point's blocks mostly come
// in ascending runs (a comparison walks the disk in order), which it keeps as sorted runs at 16
// bytes a block; blocks set again or out of order go into a map that takes precedence. Lookups of
// blocks outside [lo, hi) cost two compares, so that an initial replication, whose new blocks lie
// past the in-flight points, does not pay a search per block. Not safe for concurrent use (the
// replica's lock guards it).
type overlay struct {
	runs   []ovRun
	m      map[int64]tracker.Fingerprint
	lo, hi int64 // every block set is in [lo, hi); empty when lo >= hi
	n      int64 // blocks in runs (the map may shadow some)
}

// runBlocks is the most blocks a run grows to (64 KiB of fingerprints).
const runBlocks = 4096

type ovRun struct {
	first int64
	fps   []tracker.Fingerprint
}

func (o *overlay) get(i int64) (tracker.Fingerprint, bool) {
	if i < o.lo || i >= o.hi {
		return tracker.Fingerprint{}, false
	}
	if o.m != nil {
		if fp, ok := o.m[i]; ok {
			return fp, true
		}
	}
	k := sort.Search(len(o.runs), func(k int) bool { return o.runs[k].first+int64(len(o.runs[k].fps)) > i })
	if k < len(o.runs) && o.runs[k].first <= i {
		return o.runs[k].fps[i-o.runs[k].first], true
	}
	return tracker.Fingerprint{}, false
}

// set gives blocks first, first+1, … the fingerprints fps (copied).
func (o *overlay) set(first int64, fps []tracker.Fingerprint) {
	if len(fps) == 0 {
		return
	}
	end := first + int64(len(fps))
	if o.lo >= o.hi {
		o.lo, o.hi = first, end
	}
	if o.m == nil && (len(o.runs) == 0 || first >= o.hi) {
		last := len(o.runs) - 1
		if last >= 0 && o.runs[last].first+int64(len(o.runs[last].fps)) == first &&
			len(o.runs[last].fps)+len(fps) <= max(cap(o.runs[last].fps), runBlocks) {
			o.runs[last].fps = append(o.runs[last].fps, fps...)
		} else {
			// A run holds at most runBlocks blocks (past that, adjacent runs follow each other), so
			// that a long one never moves or doubles: an initial point's overlay stays at 16 bytes a
			// block.
			o.runs = append(o.runs, ovRun{first: first, fps: append([]tracker.Fingerprint(nil), fps...)})
		}
		o.n += int64(len(fps))
	} else {
		if o.m == nil {
			o.m = make(map[int64]tracker.Fingerprint, len(fps))
		}
		for k, fp := range fps {
			o.m[first+int64(k)] = fp
		}
	}
	o.lo, o.hi = min(o.lo, first), max(o.hi, end)
}

// setZero marks blocks [first, first+n) as reading zeros.
func (o *overlay) setZero(first, n int64) {
	var zero [64]tracker.Fingerprint
	for n > 0 {
		k := min(n, int64(len(zero)))
		o.set(first, zero[:k])
		first, n = first+k, n-k
	}
}

// each calls fn for every block the overlay sets, with its newest fingerprint.
func (o *overlay) each(fn func(i int64, fp tracker.Fingerprint)) {
	for _, r := range o.runs {
		for k, fp := range r.fps {
			i := r.first + int64(k)
			if o.m != nil {
				if _, ok := o.m[i]; ok {
					continue
				}
			}
			fn(i, fp)
		}
	}
	for i, fp := range o.m {
		fn(i, fp)
	}
}

// bytes is the memory the overlay holds, roughly.
func (o *overlay) bytes() int64 {
	var c int64
	for _, r := range o.runs {
		c += int64(cap(r.fps)) * 16
	}
	return c + int64(len(o.m))*40
}
