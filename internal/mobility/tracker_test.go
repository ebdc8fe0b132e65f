package mobility

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// markTracker is a write tracker driven by the test: it reports the blocks marked since the
// previous call, or a gap once when asked. It stands for a block-layer tracker.
type markTracker struct {
	mu    sync.Mutex
	dirty map[string]*tracker.Bitmap
	size  map[string]int64
	gap   string
	calls int
}

func (m *markTracker) Name() string { return "marks" }
func (m *markTracker) Start(_ context.Context, disks []tracker.Disk, _ bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dirty, m.size = map[string]*tracker.Bitmap{}, map[string]int64{}
	for _, d := range disks {
		m.dirty[d.Name] = tracker.NewBitmap(tracker.Blocks(d.Size))
		m.size[d.Name] = d.Size
	}
	return nil
}
func (m *markTracker) Changes(_ context.Context, disk string) (tracker.Changes, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.gap != "" {
		g := m.gap
		m.gap = ""
		return tracker.Changes{Gap: g}, nil
	}
	b := m.dirty[disk]
	m.dirty[disk] = tracker.NewBitmap(b.Len())
	return tracker.Changes{Dirty: b}, nil
}
func (m *markTracker) mark(disk string, block int64) {
	m.mu.Lock()
	m.dirty[disk].Set(block)
	m.mu.Unlock()
}
func (m *markTracker) StateBytes() int64 { return 0 }
func (m *markTracker) Close() error      { return nil }

func writeBlock(t *testing.T, path string, block int64, fill byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{fill}, 4096), block*4096); err != nil {
		t.Fatal(err)
	}
}

// With a write tracker only the dirty blocks are read; a gap leads to a resync that finds what the
// tracker missed.
func TestPSDirtyBitmapTrackerAndGap(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	const size = 8 << 20
	testImage(t, img, size, 31)
	ps := startPS(t, dir)
	cfg := ps.config(t, Disk{Name: "sda", Path: img})
	mt := &markTracker{}
	r := startAgent(t, cfg, Options{Tracker: mt})
	waitFor(t, "initial replication", 60*time.Second, func() bool { return r.a.initialDone() })
	// Two marked writes and one the tracker misses.
	writeBlock(t, img, 10, 0xa1)
	mt.mark("sda", 10)
	writeBlock(t, img, 900, 0xa2)
	mt.mark("sda", 900)
	writeBlock(t, img, 1500, 0xa3) // unmarked
	c0 := r.a.Status().CommittedSeq
	r.a.Trigger()
	waitFor(t, "the tracked point", 60*time.Second, func() bool { return r.a.Status().CommittedSeq > c0 })
	if p := ps.points(t)[c0+1]; p.Stats.BlocksWritten != 2 {
		t.Fatalf("tracked point wrote %d blocks, want 2", p.Stats.BlocksWritten)
	}
	// The tracker reports a gap: the resync compares everything with the replica.
	mt.mu.Lock()
	mt.gap = "dropped 3 events"
	mt.mu.Unlock()
	r.a.Trigger()
	waitFor(t, "the resync", 60*time.Second, func() bool { return r.has("resync-complete") != nil })
	ev := r.has("resync-complete")
	if ev.Attrs["reason"] != "tracking gap on disk sda: dropped 3 events" || ev.Attrs["differing_blocks"] != "1" {
		t.Fatalf("resync event %+v", ev)
	}
	seq, _ := strconv.ParseUint(ev.Attrs["seq"], 10, 64)
	waitFor(t, "its commit", 60*time.Second, func() bool { return r.a.Status().CommittedSeq >= seq })
	want, _ := os.ReadFile(img)
	if got := ps.export(t, seq, "sda"); !bytes.Equal(got, want) {
		t.Fatal("export after the resync differs")
	}
}
