//go:build linux

package azure

import (
	"reflect"
	"testing"

	"github.com/opensiterecovery/osr/internal/target"
)

type ext = target.Extent

func x(off, n int64) ext { return ext{Off: off, Len: n} }

func TestAlignExtents(t *testing.T) {
	tests := []struct {
		name  string
		in    []ext
		limit int64
		want  []ext
		err   string
	}{
		{name: "none", limit: 4096},
		{name: "aligned", in: []ext{x(0, 512), x(4096, 1024)}, limit: 8192, want: []ext{x(0, 512), x(4096, 1024)}},
		{name: "rounded out", in: []ext{x(100, 10), x(2000, 600)}, limit: 8192, want: []ext{x(0, 512), x(1536, 1536)}},
		{name: "merged when touching", in: []ext{x(0, 500), x(510, 10), x(1024, 1)}, limit: 8192, want: []ext{x(0, 1536)}},
		{name: "clipped to the limit", in: []ext{x(0, 512), x(7000, 5000)}, limit: 7680, want: []ext{x(0, 512), x(6656, 1024)}},
		{name: "beyond the limit", in: []ext{x(8192, 512)}, limit: 8192},
		{name: "empty extents left out", in: []ext{x(0, 0), x(512, 0)}, limit: 8192},
		{name: "overlap", in: []ext{x(0, 1024), x(512, 10)}, limit: 8192, err: "data extent 1 at 512 overlaps or precedes the one before, which ends at 1024"},
		{name: "negative", in: []ext{x(-1, 10)}, limit: 8192, err: "data extent 0 [-1, +10) is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := alignExtents(tt.in, tt.limit)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAlignExtentsRoundedOut(t *testing.T) {
	// 100+10 rounds to [0, 512) and 1000+600 to [512, 2048): they touch and merge.
	got, err := alignExtents([]ext{x(100, 10), x(1000, 600)}, 8192)
	if err != nil || !reflect.DeepEqual(got, []ext{x(0, 2048)}) {
		t.Fatalf("got %v, %v, want [{0 2048}]", got, err)
	}
}

func TestWindows(t *testing.T) {
	tests := []struct {
		name string
		in   []ext
		from int64
		size int64
		want []window
	}{
		{name: "split", in: []ext{x(0, 2560)}, size: 1024, want: []window{{0, 1024}, {1024, 2048}, {2048, 2560}}},
		{name: "two extents", in: []ext{x(0, 512), x(4096, 1024)}, size: 1024, want: []window{{0, 512}, {4096, 5120}}},
		{name: "from inside", in: []ext{x(0, 2048), x(4096, 1024)}, from: 1024, size: 4096, want: []window{{1024, 2048}, {4096, 5120}}},
		{name: "from past an extent", in: []ext{x(0, 2048), x(4096, 1024)}, from: 3072, size: 4096, want: []window{{4096, 5120}}},
		{name: "from the end", in: []ext{x(0, 2048)}, from: 2048, size: 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := windows(tt.in, tt.from, tt.size); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDataRuns(t *testing.T) {
	// pages builds a buffer from a pattern: 'x' a page with data, '.' a zero page.
	pages := func(pattern string) []byte {
		b := make([]byte, len(pattern)*PageSize)
		for i, c := range pattern {
			if c == 'x' {
				b[i*PageSize+i%PageSize] = byte(i + 1)
			}
		}
		return b
	}
	const p = PageSize
	tests := []struct {
		pattern string
		minGap  int
		want    []run
	}{
		{"....", p, nil},
		{"xxxx", p, []run{{0, 4 * p}}},
		{"..xx..", p, []run{{2 * p, 4 * p}}},
		{"x.x", p, []run{{0, p}, {2 * p, 3 * p}}},
		{"x.x", 2 * p, []run{{0, 3 * p}}},
		{"x..x...x", 3 * p, []run{{0, 4 * p}, {7 * p, 8 * p}}},
		{"x..x...x", 4 * p, []run{{0, 8 * p}}},
		{".x..", 64 << 10, []run{{p, 2 * p}}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			if got := dataRuns(pages(tt.pattern), tt.minGap); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("dataRuns(%s, %d) = %v, want %v", tt.pattern, tt.minGap, got, tt.want)
			}
		})
	}
	// A single non-zero byte at a page's end makes the page data.
	b := make([]byte, 2*p)
	b[2*p-1] = 1
	if got := dataRuns(b, p); !reflect.DeepEqual(got, []run{{p, 2 * p}}) {
		t.Errorf("last byte: %v", got)
	}
}

func TestPageRanges(t *testing.T) {
	var r pageRanges
	var err error
	for _, a := range [][2]int64{{0, 512}, {512, 1024}, {4096, 8192}} {
		if r, err = r.add(a[0], a[1]); err != nil {
			t.Fatal(err)
		}
	}
	if want := (pageRanges{x(0, 1024), x(4096, 4096)}); !reflect.DeepEqual(r, want) {
		t.Fatalf("ranges %v, want %v", r, want)
	}
	for _, tt := range []struct {
		off, end int64
		want     bool
	}{
		{0, 1024, true}, {512, 1024, true}, {0, 1536, false}, {1024, 1536, false},
		{4096, 8192, true}, {5000, 6000, true}, {4000, 4608, false}, {8192, 8704, false},
	} {
		if got := r.covers(tt.off, tt.end); got != tt.want {
			t.Errorf("covers(%d, %d) = %v, want %v", tt.off, tt.end, got, tt.want)
		}
	}
	for _, tt := range []struct {
		off, end int64
		err      string
	}{
		{100, 612, "page range [100, 612) is not a non-empty, page-aligned range"},
		{512, 512, "page range [512, 512) is not a non-empty, page-aligned range"},
		{7680, 9216, "page range [7680, 9216) is not after the one before, which ends at 8192"},
	} {
		if _, err := r.add(tt.off, tt.end); err == nil || err.Error() != tt.err {
			t.Errorf("add(%d, %d): %v, want %q", tt.off, tt.end, err, tt.err)
		}
	}
}

func TestTracker(t *testing.T) {
	trk := newTracker([]window{{0, 10}, {10, 20}, {30, 40}})
	steps := []struct {
		i    int
		want int64
	}{{1, 0}, {2, 0}, {0, 100}}
	for _, s := range steps {
		if got := trk.finish(s.i, 100); got != s.want {
			t.Errorf("finish(%d) = %d, want %d", s.i, got, s.want)
		}
	}
	trk = newTracker([]window{{0, 10}, {10, 20}, {30, 40}})
	if got := trk.finish(0, 100); got != 10 {
		t.Errorf("finish(0) = %d, want 10", got)
	}
	if got := trk.finish(1, 100); got != 30 {
		t.Errorf("finish(1) = %d, want 30", got)
	}
}

// FuzzPageRanges feeds the page-range list a service might answer (pairs of 16-bit page numbers:
// start, end inclusive, as Get Page Ranges reports bytes) into pageRanges.add: it either refuses
// a range with an error or keeps the list sorted and without overlap, and covers agrees with a
// page-by-page check.
func FuzzPageRanges(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 2, 0, 3, 0, 9, 0, 12})
	f.Add([]byte{0, 5, 0, 4})
	f.Add([]byte{1, 0, 1, 0, 0, 7, 0, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r pageRanges
		written := map[int64]bool{}
		for i := 0; i+3 < len(b); i += 4 {
			start := int64(b[i])<<8 | int64(b[i+1])
			last := int64(b[i+2])<<8 | int64(b[i+3])
			next, err := r.add(start*PageSize, (last+1)*PageSize)
			if err != nil {
				continue
			}
			r = next
			for p := start; p <= last; p++ {
				written[p] = true
			}
		}
		for i := 1; i < len(r); i++ {
			if r[i].Off <= r[i-1].Off+r[i-1].Len || r[i].Len <= 0 {
				t.Fatalf("ranges %v are not sorted, apart and non-empty", r)
			}
		}
		for start := int64(0); start < 64; start++ {
			for end := start + 1; end <= start+4; end++ {
				want := true
				for p := start; p < end; p++ {
					want = want && written[p]
				}
				// covers asks for one range; touching ranges are merged by add, so it is the same.
				if got := r.covers(start*PageSize, end*PageSize); got != want {
					t.Fatalf("covers pages [%d, %d) = %v, want %v (ranges %v)", start, end, got, want, r)
				}
			}
		}
	})
}
