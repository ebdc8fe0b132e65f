package qcow2

import (
	"fmt"

	"github.com/opensiterecovery/osr/internal/target"
)

// run is a series of guest clusters that hold data, stored contiguously in the image.
type run struct {
	guest int64 // first guest cluster
	n     int64 // clusters
	host  int64 // host cluster of the first
}

// layout is where everything of one image goes, in clusters of cs bytes.
type layout struct {
	bits     uint32 // cluster bits
	cs       int64  // cluster size
	l2e      int64  // entries per L2 table
	rce      int64  // entries per refcount block
	size     int64  // the disk's size
	virtual  int64  // the image's virtual size: size rounded up to 512 bytes
	clusters int64  // guest clusters
	l1Size   int64  // L1 entries
	l1       int64  // first cluster of the L1 table
	l1c      int64
	rt       int64 // refcount table
	rtc      int64
	rb       int64 // refcount blocks
	rbc      int64
	l2       int64 // L2 tables, one per used L1 entry, in L1 order
	l2Index  []int64
	meta     int64 // metadata clusters (L1 to L2 tables, in that order) are [meta, metaEnd)
	metaEnd  int64
	data     int64 // first host cluster of data
	runs     []run
	nData    int64 // data clusters
	total    int64 // clusters in the image
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// plan lays out an image of a disk of size bytes whose data lies in ext (ascending, no
// overlap, as target.Disk.DataExtents returns them), with clusters of 1<<bits bytes (osr writes
// ClusterBits; tests use small clusters to reach many tables with little data).
//
// The streaming layout (identity false) is header, L1 table, refcount table and blocks, L2
// tables, then the data clusters packed in guest order. The identity layout keeps every guest
// cluster at its own offset, as in a raw image, except guest cluster 0 (where the header goes),
// which moves to just past the disk's clusters; the tables follow it.
func plan(size int64, ext []target.Extent, bits uint32, identity bool) (*layout, error) {
	if size <= 0 || size > MaxSize {
		return nil, fmt.Errorf("qcow2: disk size %d, want 1 to %d", size, int64(MaxSize))
	}
	cs := int64(1) << bits
	l := &layout{bits: bits, cs: cs, l2e: cs / 8, rce: cs * 8 / (1 << RefcountOrder), size: size, virtual: VirtualSize(size), clusters: ceilDiv(size, cs)}
	l.l1Size = ceilDiv(l.clusters, l.l2e)
	// Data clusters from the extents, adjacent ones merged into runs (host offsets come later).
	prevEnd := int64(-1)
	for _, e := range ext {
		if e.Len <= 0 {
			continue
		}
		if e.Off < 0 || e.Off+e.Len > size || e.Off < prevEnd {
			return nil, fmt.Errorf("qcow2: data extent [%d, %d) is outside the disk of %d bytes or out of order", e.Off, e.Off+e.Len, size)
		}
		prevEnd = e.Off + e.Len
		first, last := e.Off/cs, (e.Off+e.Len-1)/cs
		if k := len(l.runs) - 1; k >= 0 && l.runs[k].guest+l.runs[k].n >= first {
			r := &l.runs[k]
			if end := last + 1; end > r.guest+r.n {
				r.n = end - r.guest
			}
			continue
		}
		l.runs = append(l.runs, run{guest: first, n: last - first + 1})
	}
	used := map[int64]bool{}
	for _, r := range l.runs {
		l.nData += r.n
		for i := r.guest / l.l2e; i <= (r.guest+r.n-1)/l.l2e; i++ {
			if !used[i] {
				used[i] = true
				l.l2Index = append(l.l2Index, i)
			}
		}
	}
	l.l1c = ceilDiv(l.l1Size*8, cs)
	nL2 := int64(len(l.l2Index))
	// fixed counts every cluster but the refcount table and blocks.
	var fixed int64
	if identity {
		l.meta = l.clusters
		if len(l.runs) > 0 && l.runs[0].guest == 0 {
			l.meta++ // guest cluster 0's new place
		}
		fixed = l.meta + l.l1c + nL2
	} else {
		l.meta = 1
		fixed = 1 + l.l1c + nL2 + l.nData
	}
	// The refcount table and blocks count themselves: grow them until they cover the image.
	for {
		rbc := ceilDiv(fixed+l.rtc+l.rbc, l.rce)
		rtc := ceilDiv(rbc*8, cs)
		if rbc == l.rbc && rtc == l.rtc {
			break
		}
		l.rbc, l.rtc = rbc, rtc
	}
	l.l1 = l.meta
	l.rt = l.l1 + l.l1c
	l.rb = l.rt + l.rtc
	l.l2 = l.rb + l.rbc
	l.metaEnd = l.l2 + nL2
	if identity {
		var runs []run
		for _, r := range l.runs {
			if r.guest == 0 {
				runs = append(runs, run{guest: 0, n: 1, host: l.clusters})
				if r.n == 1 {
					continue
				}
				r.guest, r.n = 1, r.n-1
			}
			r.host = r.guest
			runs = append(runs, r)
		}
		l.runs = runs
		l.data = 1 // the first guest cluster kept in place
		l.total = l.metaEnd
		return l, nil
	}
	l.data = l.metaEnd
	host := l.data
	for i := range l.runs {
		l.runs[i].host = host
		host += l.runs[i].n
	}
	l.total = host
	return l, nil
}

// VirtualSize is the virtual size of the image of a disk of size bytes: readers of qcow2 count
// whole 512-byte sectors, so a disk whose size is not a multiple of 512 gets a zero tail.
func VirtualSize(size int64) int64 { return (size + 511) / 512 * 512 }

// header returns the image's header.
func (l *layout) header() Header {
	return Header{
		ClusterBits:           l.bits,
		Size:                  uint64(l.virtual),
		L1Size:                uint32(l.l1Size),
		L1TableOffset:         uint64(l.l1 * l.cs),
		RefcountTableOffset:   uint64(l.rt * l.cs),
		RefcountTableClusters: uint32(l.rtc),
		RefcountOrder:         RefcountOrder,
		HeaderLength:          HeaderLength,
	}
}
