package ebpf

import (
	"encoding/binary"
	"testing"
)

func TestDecodeRange(t *testing.T) {
	rec := func(dev uint32, first, last uint64) []byte {
		b := make([]byte, rangeSize)
		binary.LittleEndian.PutUint32(b, dev)
		binary.LittleEndian.PutUint64(b[8:], first)
		binary.LittleEndian.PutUint64(b[16:], last)
		return b
	}
	cases := []struct {
		name        string
		in          []byte
		dev         uint32
		first, last int64
		err         string
	}{
		{"one block", rec(7<<20|3, 5, 5), 7<<20 | 3, 5, 5, ""},
		{"a range", rec(1, 0, 1<<20), 1, 0, 1 << 20, ""},
		{"short", make([]byte, 23), 0, 0, 0, "ebpf tracker: ring buffer record of 23 bytes, want 24"},
		{"reversed", rec(1, 9, 8), 0, 0, 0, "ebpf tracker: ring buffer record with a bad block range"},
		{"huge", rec(1, 0, 1<<63), 0, 0, 0, "ebpf tracker: ring buffer record with a bad block range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dev, first, last, err := decodeRange(c.in)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || dev != c.dev || first != c.first || last != c.last {
				t.Fatalf("got %d %d %d %v", dev, first, last, err)
			}
		})
	}
}

func FuzzDecodeRange(f *testing.F) {
	f.Add(make([]byte, rangeSize))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, first, last, err := decodeRange(b)
		if err == nil && (first < 0 || last < first) {
			t.Fatalf("accepted range %d..%d", first, last)
		}
	})
}
