package store

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// BenchmarkSparseTiB stores a 1 TiB disk holding 10 GiB of data (160 runs of 64 MiB spread over the
// disk), then an incremental point after 1,000 random 4 KiB writes into the data, and reports the
// tree metadata of each point. Run: go test -run '^$' -bench SparseTiB -benchtime 1x ./internal/store
func BenchmarkSparseTiB(b *testing.B) {
	const (
		diskSize = 1 << 40
		runs     = 160
		runSize  = 64 << 20
		writes   = 1000
	)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(b.TempDir(), "repo")
		r, err := Init(ctx, newFileBackend(&testing.T{}, dir), []byte("pw"), Options{KDF: testKDF})
		if err != nil {
			b.Fatal(err)
		}
		src := rand.NewChaCha8([32]byte{1})
		rng := rand.New(src)
		stride := int64(diskSize / runs)
		w, err := r.NewWriter(ctx, "big", nil, []DiskSpec{{"d", diskSize}})
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 1<<20)
		for k := int64(0); k < runs; k++ {
			for off := int64(0); off < runSize; off += int64(len(buf)) {
				src.Read(buf)
				if _, err := w.Disk("d").WriteAt(buf, k*stride+off); err != nil {
					b.Fatal(err)
				}
			}
		}
		full, err := w.Commit(ctx, CommitMeta{})
		if err != nil {
			b.Fatal(err)
		}
		w, err = r.NewWriter(ctx, "big", full, []DiskSpec{{"d", diskSize}})
		if err != nil {
			b.Fatal(err)
		}
		blk := make([]byte, BlockSize)
		for k := 0; k < writes; k++ {
			src.Read(blk)
			off := int64(rng.IntN(runs))*stride + int64(rng.IntN(runSize/BlockSize))*BlockSize
			if _, err := w.Disk("d").WriteAt(blk, off); err != nil {
				b.Fatal(err)
			}
		}
		incr, err := w.Commit(ctx, CommitMeta{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(full.Stats.TreeBytes)/(1<<20), "full-tree-MiB")
		b.ReportMetric(float64(full.Stats.DataBytes)/(1<<20), "full-data-MiB")
		b.ReportMetric(float64(incr.Stats.TreeBytes)/(1<<20), "incr-tree-MiB")
		b.ReportMetric(float64(incr.Stats.DataBytes)/(1<<20), "incr-data-MiB")
		b.ReportMetric(float64(incr.Stats.TreeBlobs), "incr-tree-nodes")
	}
}
