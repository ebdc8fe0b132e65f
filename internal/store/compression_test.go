package store

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/klauspost/compress/s2"
)

func TestParseCompression(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Compression
		err  string
	}{
		{"", CompressZstd, ""},
		{"zstd", CompressZstd, ""},
		{"s2", CompressS2, ""},
		{"lz4", 0, `unknown compression "lz4" (zstd or s2)`},
		{"S2", 0, `unknown compression "S2" (zstd or s2)`},
	} {
		got, err := ParseCompression(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseCompression(%q): error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || got.String() != map[string]string{"": "zstd"}[tc.in]+tc.in {
			t.Errorf("ParseCompression(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestCompressionModes: points written with each compression read back byte-exact, from the same
// store, also by a reader that was set to the other compression; the data blobs carry the mode.
func TestCompressionModes(t *testing.T) {
	r, dir := newTestRepo(t)
	img := randomImage(11, 2*LeafBlocks*BlockSize+7*BlockSize)
	modes := map[Compression]byte{CompressZstd: modeZstd, CompressS2: modeS2}
	points := map[Compression]*Point{}
	for _, c := range []Compression{CompressS2, CompressZstd} {
		r.SetCompression(c)
		// A fresh image per mode: blobs already stored are not written again.
		im := bytes.Clone(img)
		im[0] = byte(c) + 1
		for i := 4096; i < len(im); i += 8192 {
			im[i] ^= byte(c) + 1
		}
		before := countModes(t, r)
		pt := putImage(t, r, "m"+c.String(), nil, map[string][]byte{"sda": im})
		points[c] = pt
		sameBytes(t, c.String()+" export", exportDisk(t, r, pt, "sda"), im)
		after := countModes(t, r)
		if after[modes[c]] == before[modes[c]] {
			t.Errorf("%s: no new data blob of mode %d (modes before %v, after %v)", c, modes[c], before, after)
		}
		for m, n := range after {
			if m != modes[c] && m != modeRaw && n != before[m] {
				t.Errorf("%s: %d new data blobs of mode %d", c, n-before[m], m)
			}
		}
	}
	r2 := reopenRepo(t, dir)
	r2.SetCompression(CompressS2)
	for c, pt := range points {
		sameBytes(t, c.String()+" export from the reopened store", exportDisk(t, r2, pt, "sda"), exportDisk(t, r, pt, "sda"))
	}
}

// countModes counts the payload modes of the data blobs of the store, by reading and opening them.
func countModes(t *testing.T, r *Repo) map[byte]int {
	t.Helper()
	out := map[byte]int{}
	ctx := context.Background()
	r.index.Each(func(id ID, loc blobLoc) {
		if loc.Type != DataBlob {
			return
		}
		err := r.be.Load(ctx, packName(loc.Pack), int64(loc.Offset), int64(loc.Length), func(rd io.Reader) error {
			stored, err := io.ReadAll(rd)
			if err != nil {
				return err
			}
			payload, err := r.keys.Open(nil, stored, id[:])
			if err != nil {
				return err
			}
			out[payload[0]]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	return out
}

func TestS2PayloadErrors(t *testing.T) {
	r, _ := newTestRepo(t)
	c := r.codec
	plain := bytes.Repeat([]byte("osr s2 "), 1000)
	id := r.keys.Hash(plain)
	good := append([]byte{modeS2}, s2.Encode(nil, plain)...)
	for _, tc := range []struct {
		name    string
		payload []byte
		rawLen  int
		err     string
	}{
		{"good", good, len(plain), ""},
		{"raw length differs", good, len(plain) - 1, "corrupt: blob " + id.Short() + ": decodes to 7000 bytes, index says 6999"},
		{"raw length too large", good, 1 << 30, "corrupt: blob " + id.Short() + ": raw length 1073741824 too large"},
		{"truncated block", good[:len(good)-3], len(plain), "corrupt: blob " + id.Short() + ": s2: corrupt input"},
		{"empty block", []byte{modeS2}, 0, "corrupt: blob " + id.Short() + ": s2: corrupt input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.open([]byte("pre"), id, r.keys.Seal(nil, tc.payload, id[:]), tc.rawLen)
			if tc.err == "" {
				if err != nil || string(got) != "pre"+string(plain) {
					t.Fatalf("open: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.err {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}
