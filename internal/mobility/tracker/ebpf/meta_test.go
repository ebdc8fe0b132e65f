package ebpf

import (
	"strings"
	"testing"
)

func TestDecodeMeta(t *testing.T) {
	pad := func(s string) []byte {
		b := make([]byte, metaSize)
		copy(b, s)
		return b
	}
	prog := strings.Repeat("ab", 32)
	good := `{"program":"` + prog + `","layout":[{"name":"d","dev":7340035,"start":0,"blocks":16,"summary_off":0,"words_off":1,"whole_blocks":16}],"words":2,"lost":3}`
	cases := []struct {
		name string
		in   []byte
		err  string
	}{
		{"good", pad(good), ""},
		{"short", []byte(good), "ebpf tracker: pinned meta of 205 bytes, want 4096"},
		{"garbage after the padding", func() []byte { b := pad(good); b[metaSize-1] = 1; return b }(), "ebpf tracker: pinned meta has bytes after its padding"},
		{"not json", pad("{"), "ebpf tracker: pinned meta: unexpected end of JSON input"},
		{"no program", pad(`{"layout":[{"name":"d"}],"words":2}`), "ebpf tracker: pinned meta without a program hash, words or disks"},
		{"no disks", pad(`{"program":"` + prog + `","words":2}`), "ebpf tracker: pinned meta without a program hash, words or disks"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := decodeMeta(c.in)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || m.Program != prog || m.Words != 2 || m.Lost != 3 || len(m.Layout) != 1 || m.Layout[0].Dev != 7340035 {
				t.Fatalf("got %+v, %v", m, err)
			}
		})
	}
}

func FuzzDecodeMeta(f *testing.F) {
	b := make([]byte, metaSize)
	copy(b, `{"program":"`+strings.Repeat("ab", 32)+`","layout":[{"name":"d"}],"words":2,"lost":0}`)
	f.Add(b)
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err == nil && (len(m.Program) != 64 || m.Words < 1 || len(m.Layout) == 0) {
			t.Fatalf("accepted %+v", m)
		}
	})
}
