package capacity

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkScanSample is one scan-tracker sample of a 256 MiB image full of data (page cached): the
// cost of profiling without the ebpf tracker, per byte of disk.
func BenchmarkScanSample(b *testing.B) {
	path := filepath.Join(b.TempDir(), "disk.img")
	const size = 256 << 20
	if err := os.WriteFile(path, bytes.Repeat([]byte("osr-bench"), size/9+1)[:size], 0o600); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	p, err := NewProfiler(ctx, ProfilerConfig{Machine: "m", Disks: []Disk{{Name: "sda", Path: path}}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Sample(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
