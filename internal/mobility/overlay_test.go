package mobility

import (
	"math/rand/v2"
	"testing"

	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// The overlay answers exactly as a map of the same writes, in order, out of order and overwritten.
func TestOverlayMatchesMap(t *testing.T) {
	fp := func(v int) tracker.Fingerprint { return tracker.Fingerprint{byte(v), byte(v >> 8), 1} }
	for _, tc := range []struct {
		name   string
		writes func(set func(first int64, n int, v int), zero func(first, n int64))
	}{
		{"ascending runs", func(set func(int64, int, int), _ func(int64, int64)) {
			set(0, 256, 1)
			set(256, 256, 2)
			set(1000, 3, 3)
		}},
		{"long ascending runs", func(set func(int64, int, int), _ func(int64, int64)) {
			for k := 0; k < 60; k++ {
				set(int64(k*256), 256, k)
			}
			set(15360, 1, 99)
			set(16000, 3000, 100)
		}},
		{"rewrites and zeros", func(set func(int64, int, int), zero func(int64, int64)) {
			set(10, 100, 1)
			set(50, 10, 2)
			zero(105, 70)
			set(5, 2, 3)
			set(400, 1, 4)
		}},
		{"random", func(set func(int64, int, int), zero func(int64, int64)) {
			r := rand.New(rand.NewPCG(1, 2))
			for k := 0; k < 500; k++ {
				if r.IntN(5) == 0 {
					zero(int64(r.IntN(5000)), int64(1+r.IntN(100)))
				} else {
					set(int64(r.IntN(5000)), 1+r.IntN(40), k)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o overlay
			want := map[int64]tracker.Fingerprint{}
			tc.writes(func(first int64, n int, v int) {
				fps := make([]tracker.Fingerprint, n)
				for k := range fps {
					fps[k] = fp(v*1000 + k)
					want[first+int64(k)] = fps[k]
				}
				o.set(first, fps)
				fps[0] = fp(-1) // the overlay keeps its own copy
			}, func(first, n int64) {
				for i := first; i < first+n; i++ {
					want[i] = tracker.Fingerprint{}
				}
				o.setZero(first, n)
			})
			for i := int64(-2); i < 20000; i++ {
				got, ok := o.get(i)
				w, wok := want[i]
				if ok != wok || got != w {
					t.Fatalf("block %d: %x %v, want %x %v", i, got, ok, w, wok)
				}
			}
			seen := map[int64]tracker.Fingerprint{}
			o.each(func(i int64, fp tracker.Fingerprint) {
				if _, dup := seen[i]; dup {
					t.Fatalf("each gives block %d twice", i)
				}
				seen[i] = fp
			})
			if len(seen) != len(want) {
				t.Fatalf("each gives %d blocks, want %d", len(seen), len(want))
			}
			for i, w := range want {
				if seen[i] != w {
					t.Fatalf("each: block %d %x, want %x", i, seen[i], w)
				}
			}
		})
	}
}
