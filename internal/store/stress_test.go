package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/retention"
)

// Writers, readers and prunes at once, each with its own Repo as separate processes would have:
// every point that exists at the end exports byte-exact, every export during the run was exact,
// and check --read-data is clean.
func TestConcurrentWritersReadersPrune(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	ctx := context.Background()
	opts := testOptions()
	if _, err := Init(ctx, newFileBackend(t, dir), []byte("pw"), opts); err != nil {
		t.Fatal(err)
	}
	open := func() *Repo {
		r, err := Open(ctx, newFileBackend(t, dir), []byte("pw"), opts)
		if err != nil {
			t.Error(err)
		}
		return r
	}
	var mu sync.Mutex
	sums := map[string][32]byte{} // point → image hash
	var wg sync.WaitGroup
	done := make(chan struct{})
	for m := 0; m < 3; m++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			machine := fmt.Sprintf("m%d", m)
			img := randomImage(uint64(m), 2<<20)
			rng := rand.New(rand.NewPCG(uint64(m), 5))
			var parent *Point
			for gen := 0; gen < 8; gen++ {
				r := open()
				if r == nil {
					return
				}
				for k := 0; k < 20; k++ {
					off := rng.IntN(len(img) - 8192)
					copy(img[off:], randomImage(rng.Uint64(), 1+rng.IntN(8192)))
				}
				// The parent may have been forgotten by a prune meanwhile: start from the newest.
				if pts, err := r.Points(ctx, machine); err == nil && len(pts) > 0 {
					parent = pts[len(pts)-1]
				} else {
					parent = nil
				}
				w, err := r.NewWriter(ctx, machine, parent, []DiskSpec{{"d", int64(len(img))}})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := w.Disk("d").WriteAt(img, 0); err != nil {
					t.Error(err)
					return
				}
				pt, err := w.Commit(ctx, CommitMeta{})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				sums[pt.ID] = sha256.Sum256(img)
				mu.Unlock()
			}
		}()
	}
	var aux sync.WaitGroup
	aux.Add(2)
	go func() { // pruner: keeps only each machine's newest point
		defer aux.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			r := open()
			if r == nil {
				return
			}
			if _, err := r.Prune(ctx, PruneOptions{Policy: retention.Policy{KeepAll: time.Nanosecond, Window: time.Nanosecond, Interval: time.Hour}}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() { // reader: exports newest points while all this goes on
		defer aux.Done()
		rng := rand.New(rand.NewPCG(77, 7))
		for {
			select {
			case <-done:
				return
			default:
			}
			r := open()
			if r == nil {
				return
			}
			lock, err := r.Session(ctx, LockRead)
			if err != nil {
				t.Error(err)
				return
			}
			pt, err := r.ResolvePoint(ctx, fmt.Sprintf("m%d", rng.IntN(3)), "latest")
			if err == nil {
				mu.Lock()
				want, known := sums[pt.ID]
				mu.Unlock()
				got, err := exportSum(ctx, r, pt, t.TempDir())
				if err != nil {
					t.Errorf("export during prune: %v", err)
				} else if known && got != want {
					t.Errorf("export of %s during prune differs", pt.ID[:12])
				}
			}
			lock.Release()
		}
	}()
	wg.Wait()
	close(done)
	aux.Wait()
	if t.Failed() {
		return
	}
	r := open()
	if _, err := r.Prune(ctx, PruneOptions{Policy: retention.DefaultPolicy(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, r, true)
	pts, err := r.Points(ctx, "")
	if err != nil || len(pts) < 3 {
		t.Fatalf("points at the end: %d, %v", len(pts), err)
	}
	for _, pt := range pts {
		got, err := exportSum(ctx, r, pt, t.TempDir())
		if err != nil || got != sums[pt.ID] {
			t.Fatalf("point %s at the end: %v", pt.ID[:12], err)
		}
	}
}

func exportSum(ctx context.Context, r *Repo, pt *Point, dir string) ([32]byte, error) {
	dr, err := r.OpenDisk(pt, "d")
	if err != nil {
		return [32]byte{}, err
	}
	f, err := os.Create(filepath.Join(dir, "x.raw"))
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	if err := dr.Export(ctx, f, ExportOptions{}); err != nil {
		return [32]byte{}, err
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return [32]byte{}, err
	}
	if int64(len(b)) != dr.Size() {
		return [32]byte{}, errors.New("export has the wrong size")
	}
	return sha256.Sum256(b), nil
}
