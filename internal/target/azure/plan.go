package azure

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/opensiterecovery/osr/internal/target"
)

const (
	// PageSize is the page blob's unit: every write starts and ends on a multiple of it.
	PageSize = 512
	// MaxPageWrite is the most one Put Page request may carry (the service's limit).
	MaxPageWrite = 4 << 20
	// MaxBlobSize is the largest page blob the service accepts (8 TiB).
	MaxBlobSize = 8 << 40
)

var zeroPage [PageSize]byte

// window is a piece of a disk that one worker reads and writes: [off, end), page-aligned, at
// most MaxPageWrite long.
type window struct {
	off, end int64
}

// alignExtents rounds each extent out to whole pages, clips it to limit (the disk's size rounded
// up to a page), and merges what then touches or overlaps. It checks that the extents are
// ascending and do not overlap, as target.Disk promises.
func alignExtents(exts []target.Extent, limit int64) ([]target.Extent, error) {
	var out []target.Extent
	var prevEnd int64
	for i, e := range exts {
		if e.Off < 0 || e.Len < 0 || e.Off+e.Len < e.Off {
			return nil, fmt.Errorf("data extent %d [%d, +%d) is invalid", i, e.Off, e.Len)
		}
		if i > 0 && e.Off < prevEnd {
			return nil, fmt.Errorf("data extent %d at %d overlaps or precedes the one before, which ends at %d", i, e.Off, prevEnd)
		}
		prevEnd = e.Off + e.Len
		if e.Len == 0 {
			continue
		}
		off := e.Off / PageSize * PageSize
		end := min((e.Off+e.Len+PageSize-1)/PageSize*PageSize, limit)
		if off >= end {
			continue
		}
		if n := len(out); n > 0 && off <= out[n-1].Off+out[n-1].Len {
			out[n-1].Len = max(out[n-1].Off+out[n-1].Len, end) - out[n-1].Off
			continue
		}
		out = append(out, target.Extent{Off: off, Len: end - off})
	}
	return out, nil
}

// windows cuts page-aligned extents into windows of at most size bytes (a multiple of PageSize),
// leaving out everything below from (a page-aligned watermark of an earlier attempt).
func windows(exts []target.Extent, from, size int64) []window {
	var out []window
	for _, e := range exts {
		off, end := max(e.Off, from), e.Off+e.Len
		for off < end {
			n := min(end-off, size)
			out = append(out, window{off: off, end: off + n})
			off += n
		}
	}
	return out
}

// run is a byte range of a window's buffer to write: [off, end) relative to the window.
type run struct {
	off, end int
}

// dataRuns returns the runs of buf (a whole number of pages) that hold non-zero pages. All-zero
// pages at either end are left out; an all-zero stretch inside is left out (a run ends before it
// and the next begins after it) when it is at least minGap bytes long, and written with its
// neighbours otherwise: one request fewer is worth more than a few zero pages.
func dataRuns(buf []byte, minGap int) []run {
	var out []run
	start, lastData := -1, -1 // the current run's first page and the end of its last non-zero page
	for off := 0; off < len(buf); off += PageSize {
		if bytes.Equal(buf[off:off+PageSize], zeroPage[:]) {
			continue
		}
		switch {
		case start < 0:
			start = off
		case off-lastData >= minGap:
			out = append(out, run{start, lastData})
			start = off
		}
		lastData = off + PageSize
	}
	if start >= 0 {
		out = append(out, run{start, lastData})
	}
	return out
}

// pageRanges is the sorted, non-overlapping list of byte ranges a page blob holds (written
// pages), as GetPageRanges reports them.
type pageRanges []target.Extent

// covers reports whether [off, end) lies inside one range.
func (p pageRanges) covers(off, end int64) bool {
	i := sort.Search(len(p), func(i int) bool { return p[i].Off+p[i].Len > off })
	return i < len(p) && p[i].Off <= off && end <= p[i].Off+p[i].Len
}

// add appends [off, end) to ranges sorted by the service, merging with the last when they touch.
func (p pageRanges) add(off, end int64) (pageRanges, error) {
	if off < 0 || end <= off || off%PageSize != 0 || end%PageSize != 0 {
		return p, fmt.Errorf("page range [%d, %d) is not a non-empty, page-aligned range", off, end)
	}
	if n := len(p); n > 0 {
		last := p[n-1].Off + p[n-1].Len
		if off < last {
			return p, fmt.Errorf("page range [%d, %d) is not after the one before, which ends at %d", off, end, last)
		}
		if off == last {
			p[n-1].Len = end - p[n-1].Off
			return p, nil
		}
	}
	return append(p, target.Extent{Off: off, Len: end - off}), nil
}

// tracker turns windows finished in any order into a watermark: the offset below which every
// window is done (the disk's data below it is in the blob).
type tracker struct {
	wins []window
	done []bool
	low  int // the first window not done
}

func newTracker(wins []window) *tracker {
	return &tracker{wins: wins, done: make([]bool, len(wins))}
}

// finish marks window i done and returns the watermark: the start of the first window not done,
// or end when all are.
func (t *tracker) finish(i int, end int64) int64 {
	t.done[i] = true
	for t.low < len(t.wins) && t.done[t.low] {
		t.low++
	}
	if t.low == len(t.wins) {
		return end
	}
	return t.wins[t.low].off
}
