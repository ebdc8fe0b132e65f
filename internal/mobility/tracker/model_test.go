package tracker

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/opensiterecovery/osr/internal/source"
)

// Compare against a model: for random sparse images, bases, candidate sets and starting blocks,
// exactly the candidate blocks at or after From whose fingerprint differs from the base are
// reported, data ones as Changed (in order, with their content) and zero ones as Zeroed.
func TestCompareModel(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		size := int64(rng.IntN(3<<20) + 1)
		path := filepath.Join(t.TempDir(), "img")
		f, _ := os.Create(path)
		f.Truncate(size)
		img := make([]byte, size)
		for range rng.IntN(12) {
			at := rng.Int64N(size)
			n := min(int64(rng.IntN(300000)), size-at)
			fill := byte(rng.IntN(3)) // 0: zeros written over data
			for i := at; i < at+n; i++ {
				if fill != 0 {
					img[i] = byte(rng.Uint32()) | 1
				} else {
					img[i] = 0
				}
			}
			f.WriteAt(img[at:at+n], at)
		}
		f.Close()
		truth := model(img)
		nb := int64(len(truth))
		base := make([]Fingerprint, nb)
		for i := range base {
			switch rng.IntN(4) {
			case 0:
				base[i] = truth[i]
			case 1:
				base[i] = Fingerprint{}
			default:
				base[i] = Fingerprint{byte(rng.Uint32()), 7}
			}
		}
		c := Changes{All: true}
		if rng.IntN(2) == 0 {
			c = Changes{Dirty: NewBitmap(nb)}
			for range rng.IntN(int(nb) + 1) {
				c.Dirty.Set(rng.Int64N(nb))
			}
		}
		from := int64(0)
		if rng.IntN(3) == 0 {
			from = rng.Int64N(nb)
		}
		d, err := source.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		gotZero := map[int64]bool{}
		last := int64(-1)
		_, err = Compare(context.Background(), d, c, CompareOptions{
			Base: func(i int64) Fingerprint { return base[i] }, From: from, ChunkSize: 64 << 10,
			Changed: func(first int64, data []byte, fps []Fingerprint) error {
				for k, fp := range fps {
					b := first + int64(k)
					if b <= last {
						t.Fatalf("seed %d: block %d out of order", seed, b)
					}
					last = b
					if fp != truth[b] || FingerprintOf(data[k*BlockSize:(k+1)*BlockSize]) != fp {
						t.Fatalf("seed %d: block %d reported with the wrong content", seed, b)
					}
					got = append(got, b)
				}
				return nil
			},
			Zeroed: func(first, n int64) error {
				for b := first; b < first+n; b++ {
					gotZero[b] = true
				}
				return nil
			},
		})
		d.Close()
		if err != nil {
			t.Fatal(err)
		}
		var want []int64
		wantZero := 0
		for b := from; b < nb; b++ {
			if (!c.All && !c.Dirty.Has(b)) || truth[b] == base[b] {
				continue
			}
			if truth[b] == (Fingerprint{}) {
				wantZero++
				if !gotZero[b] {
					t.Fatalf("seed %d: block %d now zero, not reported", seed, b)
				}
				continue
			}
			want = append(want, b)
		}
		if len(got) != len(want) || len(gotZero) != wantZero {
			t.Fatalf("seed %d: %d changed and %d zeroed, want %d and %d", seed, len(got), len(gotZero), len(want), wantZero)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("seed %d: changed[%d] = %d, want %d", seed, i, got[i], want[i])
			}
		}
	}
}
