package store

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestRoundTripAndIncremental(t *testing.T) {
	r, _ := newTestRepo(t)
	ctx := context.Background()
	sizes := []int{0, 1, 4095, 4096, 4097, LeafBlocks*BlockSize - 1, LeafBlocks * BlockSize, 3*1024*1024 + 517, 9 * 1024 * 1024}
	for _, size := range sizes {
		img := randomImage(uint64(size), size)
		pt := putImage(t, r, "m", nil, map[string][]byte{"sda": img})
		sameBytes(t, "export", exportDisk(t, r, pt, "sda"), img)
	}
	// Incremental: parent + random writes, several generations, two disks.
	a := randomImage(1, 5*1024*1024+123)
	b := randomImage(2, 2*1024*1024)
	pt := putImage(t, r, "m2", nil, map[string][]byte{"a": a, "b": b})
	rng := rand.New(rand.NewPCG(3, 3))
	for gen := 0; gen < 5; gen++ {
		w, err := r.NewWriter(ctx, "m2", pt, []DiskSpec{{"a", int64(len(a))}, {"b", int64(len(b))}})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		for k := 0; k < 200; k++ {
			off := rng.IntN(len(a) - 9000)
			n := 1 + rng.IntN(9000)
			data := randomImage(rng.Uint64(), n)
			if rng.IntN(3) == 0 {
				clear(data)
			}
			copy(a[off:], data)
			wg.Add(1)
			go func() {
				defer wg.Done()
				mu.Lock() // writes to the same bytes must land in program order for the check
				defer mu.Unlock()
				if _, err := w.Disk("a").WriteAt(data, int64(off)); err != nil {
					t.Error(err)
				}
			}()
			wg.Wait()
		}
		pt2, err := w.Commit(ctx, CommitMeta{Consistency: AppConsistent})
		if err != nil {
			t.Fatal(err)
		}
		sameBytes(t, "incremental a", exportDisk(t, r, pt2, "a"), a)
		sameBytes(t, "unchanged b", exportDisk(t, r, pt2, "b"), b)
		if d, _ := pt2.Disk("b"); d.Root != mustDisk(pt, "b").Root {
			t.Fatalf("unchanged disk b got a new root")
		}
		// The parent still reads as before.
		pt = pt2
	}
	// ReadAt at odd offsets.
	dr, err := r.OpenDisk(pt, "a")
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 50; k++ {
		off := rng.IntN(len(a))
		n := rng.IntN(300000)
		buf := make([]byte, n)
		got, _ := dr.ReadAt(buf, int64(off))
		sameBytes(t, "ReadAt", buf[:got], a[off:min(len(a), off+n)])
	}
}

func mustDisk(p *Point, name string) *DiskPoint {
	d, ok := p.Disk(name)
	if !ok {
		panic(name)
	}
	return d
}

func TestGrowDisk(t *testing.T) {
	r, _ := newTestRepo(t)
	ctx := context.Background()
	a := randomImage(5, 300*1024)
	pt := putImage(t, r, "m", nil, map[string][]byte{"d": a})
	big := append(append([]byte{}, a...), randomImage(6, 20*1024*1024)...)
	w, err := r.NewWriter(ctx, "m", pt, []DiskSpec{{"d", int64(len(big))}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Disk("d").WriteAt(big[len(a):], int64(len(a))); err != nil {
		t.Fatal(err)
	}
	pt2, err := w.Commit(ctx, CommitMeta{})
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "grown", exportDisk(t, r, pt2, "d"), big)
	sameBytes(t, "parent", exportDisk(t, r, pt, "d"), a)
}

func TestReopenAndPassword(t *testing.T) {
	r, dir := newTestRepo(t)
	ctx := context.Background()
	img := randomImage(9, 1<<20)
	pt := putImage(t, r, "m", nil, map[string][]byte{"sda": img})
	if err := r.ChangePassword(ctx, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, newFileBackend(t, dir), []byte("secret"), testOptions()); err == nil || err.Error() != "wrong password: it opens no key of this store" {
		t.Fatalf("old password: %v", err)
	}
	r2, err := Open(ctx, newFileBackend(t, dir), []byte("new"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	p2, err := r2.ResolvePoint(ctx, "m", "latest")
	if err != nil || p2.ID != pt.ID {
		t.Fatalf("latest: %v %v", p2, err)
	}
	sameBytes(t, "after reopen", exportDisk(t, r2, p2, "sda"), img)
}

// Export to another file system (tmpfs; direct I/O there depends on the kernel).
func TestExportToTmpfs(t *testing.T) {
	dir, err := os.MkdirTemp("/dev/shm", "osr-export")
	if err != nil {
		t.Fatalf("a tmpfs at /dev/shm is needed: %v", err)
	}
	defer os.RemoveAll(dir)
	r, _ := newTestRepo(t)
	img := randomImage(77, 3<<20+1234)
	pt := putImage(t, r, "m", nil, map[string][]byte{"sda": img})
	dr, err := r.OpenDisk(pt, "sda")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "out.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := dr.Export(context.Background(), f, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "export to tmpfs", got, img)
}

// Writes and zero ranges of every size, mixed, over generations, against a model of the disk.
func TestZeroRangeModel(t *testing.T) {
	r, _ := newTestRepo(t)
	ctx := context.Background()
	const size = 40<<20 + 3*4096 + 11
	model := randomImage(3, size)
	pt := putImage(t, r, "z", nil, map[string][]byte{"d": model})
	rng := rand.New(rand.NewPCG(9, 9))
	for gen := 0; gen < 4; gen++ {
		w, err := r.NewWriter(ctx, "z", pt, []DiskSpec{{"d", size}})
		if err != nil {
			t.Fatal(err)
		}
		d := w.Disk("d")
		for k := 0; k < 60; k++ {
			off := rng.Int64N(size)
			n := min(size-off, rng.Int64N(12<<20))
			if k%10 == 0 {
				n = min(size-off, rng.Int64N(size))
			}
			if rng.IntN(2) == 0 {
				data := randomImage(rng.Uint64(), int(min(n, 300000)))
				copy(model[off:], data)
				if _, err := d.WriteAt(data, off); err != nil {
					t.Fatal(err)
				}
			} else {
				clear(model[off : off+n])
				if err := d.ZeroRange(off, n); err != nil {
					t.Fatal(err)
				}
			}
		}
		pt, err = w.Commit(ctx, CommitMeta{})
		if err != nil {
			t.Fatal(err)
		}
		sameBytes(t, "after zero ranges", exportDisk(t, r, pt, "d"), model)
	}
	mustCheck(t, r, true)
}
