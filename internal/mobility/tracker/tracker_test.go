package tracker

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/opensiterecovery/osr/internal/source"
)

func TestBitmap(t *testing.T) {
	tests := []struct {
		name      string
		n         int64
		set       [][2]int64 // first, count
		wantCount int64
		wantNext  [][2]int64 // from, want
	}{
		{"empty", 100, nil, 0, [][2]int64{{0, -1}}},
		{"one", 100, [][2]int64{{5, 1}}, 1, [][2]int64{{0, 5}, {5, 5}, {6, -1}}},
		{"word", 200, [][2]int64{{64, 64}}, 64, [][2]int64{{0, 64}, {127, 127}, {128, -1}}},
		{"clipped", 70, [][2]int64{{60, 100}}, 10, [][2]int64{{0, 60}, {69, 69}, {70, -1}}},
		{"negative", 70, [][2]int64{{-5, 7}}, 2, [][2]int64{{0, 0}, {2, -1}}},
		{"spans", 1000, [][2]int64{{1, 2}, {63, 130}, {999, 5}}, 133, [][2]int64{{3, 63}, {193, 999}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBitmap(tt.n)
			for _, s := range tt.set {
				b.SetRange(s[0], s[1])
			}
			if got := b.Count(); got != tt.wantCount {
				t.Fatalf("count %d, want %d", got, tt.wantCount)
			}
			for _, nx := range tt.wantNext {
				if got := b.Next(nx[0]); got != nx[1] {
					t.Fatalf("next(%d) = %d, want %d", nx[0], got, nx[1])
				}
			}
			o := NewBitmap(tt.n)
			o.Or(b)
			if o.Count() != b.Count() {
				t.Fatalf("or: %d, want %d", o.Count(), b.Count())
			}
			b.Clear()
			if b.Count() != 0 {
				t.Fatal("clear left bits")
			}
		})
	}
}

func TestNew(t *testing.T) {
	for _, tt := range []struct{ name, want, err string }{
		{"scan", "scan", ""},
		{"auto", "scan", ""},
		{"ebpf", "", "tracker ebpf is built by package ebpf, not tracker.New"},
		{"inotify", "", `unknown tracker "inotify" (want scan, ebpf or auto)`},
	} {
		tr, err := New(tt.name)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Fatalf("%s: error %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || tr.Name() != tt.want {
			t.Fatalf("%s: %v %v", tt.name, tr, err)
		}
	}
	s := NewScan()
	if err := s.Start(context.Background(), []Disk{{Name: "sda"}}, true); err != nil {
		t.Fatal(err)
	}
	c, err := s.Changes(context.Background(), "sda")
	if err != nil || !c.All || c.Gap != "" {
		t.Fatalf("scan changes %+v %v", c, err)
	}
	if _, err := s.Changes(context.Background(), "sdb"); err == nil || err.Error() != `tracker: unknown disk "sdb"` {
		t.Fatalf("unknown disk: %v", err)
	}
}

// image writes a sparse image of size bytes with random data in a few places and returns it.
func image(t *testing.T, size int64, at []int64) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	img := make([]byte, size)
	rng := rand.New(rand.NewPCG(7, 8))
	for _, a := range at {
		n := min(int64(3*BlockSize+100), size-a)
		for i := a; i < a+n; i++ {
			img[i] = byte(rng.Uint32() | 1)
		}
		if _, err := f.WriteAt(img[a:a+n], a); err != nil {
			t.Fatal(err)
		}
	}
	return path, img
}

// model fingerprints img block by block.
func model(img []byte) []Fingerprint {
	n := Blocks(int64(len(img)))
	out := make([]Fingerprint, n)
	for i := range n {
		blk := make([]byte, BlockSize)
		copy(blk, img[i*BlockSize:min(int64(len(img)), (i+1)*BlockSize)])
		out[i] = FingerprintOf(blk)
	}
	return out
}

func TestCompareImageWithHoles(t *testing.T) {
	const size = 8<<20 + 1000 // not a multiple of the block size
	path, img := image(t, size, []int64{0, 2 << 20, 5<<20 + 100, size - 900})
	d, err := source.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	want := model(img)
	replica := make([]Fingerprint, len(want))
	// A replica that had data where the image is now a hole: those blocks become Zeroed.
	replica[1000] = Fingerprint{1}
	replica[1001] = Fingerprint{2}
	apply := func(c Changes, from int64) CompareStats {
		got := make([]byte, Blocks(size)*BlockSize)
		st, err := Compare(context.Background(), d, c, CompareOptions{
			Base: func(i int64) Fingerprint { return replica[i] },
			From: from,
			Changed: func(first int64, data []byte, fps []Fingerprint) error {
				for k := range fps {
					blk := data[k*BlockSize : (k+1)*BlockSize]
					if FingerprintOf(blk) != fps[k] || fps[k] == (Fingerprint{}) {
						t.Fatalf("block %d: fingerprint does not match data", first+int64(k))
					}
					copy(got[(first+int64(k))*BlockSize:], blk)
					replica[first+int64(k)] = fps[k]
				}
				return nil
			},
			Zeroed: func(first, n int64) error {
				for i := first; i < first+n; i++ {
					replica[i] = Fingerprint{}
				}
				return nil
			},
			ChunkSize: 64 << 10,
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := int64(0); i < size; i++ {
			if got[i] != 0 && got[i] != img[i] {
				t.Fatalf("byte %d sent as %x, want %x", i, got[i], img[i])
			}
		}
		return st
	}
	st := apply(Changes{All: true}, 0)
	for i := range want {
		if replica[i] != want[i] {
			t.Fatalf("block %d differs after compare", i)
		}
	}
	if st.Changed != 13 || st.Zeroed != 2 || st.HoleBlocks == 0 || st.ReadBytes >= size/2 {
		t.Fatalf("stats %+v", st)
	}
	// A second comparison finds nothing.
	if st := apply(Changes{All: true}, 0); st.Changed != 0 || st.Zeroed != 0 {
		t.Fatalf("second pass %+v", st)
	}
	// A change outside the dirty bitmap is not seen; inside, it is.
	f, _ := os.OpenFile(path, os.O_WRONLY, 0)
	defer f.Close()
	buf := bytes.Repeat([]byte{0xab}, BlockSize)
	for _, b := range []int64{10, 600, 1500} {
		if _, err := f.WriteAt(buf, b*BlockSize); err != nil {
			t.Fatal(err)
		}
		copy(img[b*BlockSize:], buf)
	}
	dirty := NewBitmap(Blocks(size))
	dirty.Set(600)
	dirty.Set(1500)
	if st := apply(Changes{Dirty: dirty}, 0); st.Changed != 2 || st.Blocks != 2 {
		t.Fatalf("dirty pass %+v", st)
	}
	if replica[10] == HashOf(buf) || replica[600] != HashOf(buf) || replica[1500] != HashOf(buf) {
		t.Fatal("dirty pass applied the wrong blocks")
	}
	// From skips what comes before it.
	if st := apply(Changes{All: true}, 11); st.Changed != 0 {
		t.Fatalf("from 11: %+v", st)
	}
	if st := apply(Changes{All: true}, 0); st.Changed != 1 {
		t.Fatalf("from 0: %+v", st)
	}
}

func TestCompareErrors(t *testing.T) {
	path, _ := image(t, 1<<20, []int64{0})
	d, err := source.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := Compare(context.Background(), d, Changes{}, CompareOptions{}); err == nil ||
		err.Error() != "compare: no candidate blocks given (neither all nor a dirty bitmap)" {
		t.Fatalf("no candidates: %v", err)
	}
	if _, err := Compare(context.Background(), d, Changes{All: true}, CompareOptions{ChunkSize: 1000}); err == nil ||
		err.Error() != "chunk size 1000 is not a multiple of 4096" {
		t.Fatalf("chunk: %v", err)
	}
}
