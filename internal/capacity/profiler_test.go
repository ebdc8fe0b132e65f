package capacity

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

// TestProfilerCountsDistinctBlocks writes a known set of distinct blocks between samples (some of
// them twice, one with its old content) and checks each sample is exactly those blocks.
func TestProfilerCountsDistinctBlocks(t *testing.T) {
	dir := t.TempDir()
	const size = 64 << 20
	path := filepath.Join(dir, "sda.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	block := func() []byte {
		b := make([]byte, BlockSize)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	// 1 MiB of data at the start: the used bytes.
	for i := int64(0); i < 256; i++ {
		if _, err := f.WriteAt(block(), i*BlockSize); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	p, err := NewProfiler(ctx, ProfilerConfig{Machine: "web01", Disks: []Disk{{Name: "sda", Path: path}}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	want := []int64{}
	for _, distinct := range []int{0, 1, 300, 17, 4096} {
		seen := map[int64]bool{}
		for len(seen) < distinct {
			i := rng.Int64N(size / BlockSize)
			b := block()
			if _, err := f.WriteAt(b, i*BlockSize); err != nil {
				t.Fatal(err)
			}
			if !seen[i] && rng.IntN(4) == 0 { // written again in the same interval: one block
				if _, err := f.WriteAt(block(), i*BlockSize); err != nil {
					t.Fatal(err)
				}
			}
			seen[i] = true
		}
		clk.Advance(time.Minute)
		got, err := p.Sample(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != int64(distinct)*BlockSize {
			t.Fatalf("sample after %d distinct blocks: %d bytes, want %d", distinct, got[0], distinct*BlockSize)
		}
		want = append(want, int64(distinct)*BlockSize)
	}
	// Rewriting a block with the content it has is no change.
	old := make([]byte, BlockSize)
	if _, err := f.ReadAt(old, 5*BlockSize); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(old, 5*BlockSize); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Sample(ctx); err != nil || got[0] != 0 {
		t.Fatalf("same content rewritten: %v %v, want 0", got, err)
	}
	want = append(want, 0)

	pr := p.Profile(time.Minute)
	d := pr.Disks[0]
	if d.SizeBytes != size || d.UsedMethod != "seek_data" || d.UsedBytes < 1<<20 || d.UsedBytes > 2<<20 {
		t.Fatalf("size %d used %d by %s", d.SizeBytes, d.UsedBytes, d.UsedMethod)
	}
	if !equal(d.Samples, want) {
		t.Fatalf("samples %v, want %v", d.Samples, want)
	}
	total := int64(4414 * BlockSize)
	if d.ChangedBytes != total || d.PeakIntervalByte != 4096*BlockSize || d.PeakBytesPerSec != 4096*BlockSize/60.0 {
		t.Fatalf("summary %+v", d.Summary)
	}
	if d.BytesPerHour != float64(total)/360*3600 {
		t.Fatalf("bytes per hour %v", d.BytesPerHour)
	}
	// The document decodes back to itself.
	var buf bytes.Buffer
	if err := Encode(&buf, pr); err != nil {
		t.Fatal(err)
	}
	back, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if back.Machine != "web01" || back.Tracker != "scan" || !equal(back.Disks[0].Samples, want) || back.Disks[0].Summary != d.Summary || !back.Started.Equal(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("decoded %+v", back)
	}
}

func TestProfilerErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.img")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  ProfilerConfig
		want string
	}{
		{ProfilerConfig{Disks: []Disk{{Name: "a", Path: empty}}}, "profile: no machine name"},
		{ProfilerConfig{Machine: "m"}, "profile: no disks"},
		{ProfilerConfig{Machine: "m", Disks: []Disk{{Name: "a", Path: filepath.Join(dir, "none")}}},
			"profile: disk a: open " + filepath.Join(dir, "none") + ": no such file or directory"},
		{ProfilerConfig{Machine: "m", Disks: []Disk{{Name: "a", Path: empty}}}, "profile: disk a: size: empty"},
	} {
		_, err := NewProfiler(ctx, tc.cfg)
		if err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
