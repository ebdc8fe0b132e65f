package mobility

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/mobility/state"
)

// testImage writes a sparse image: random data in a few regions, holes elsewhere.
func testImage(t *testing.T, path string, size int64, seed uint64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	for off := int64(0); off < size; off += 1 << 20 {
		if rng.IntN(3) == 0 {
			continue // a hole
		}
		buf := make([]byte, 1<<20)
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		if rng.IntN(4) == 0 {
			clear(buf[:64<<10]) // some all-zero blocks inside data
		}
		if _, err := f.WriteAt(buf[:min(int64(len(buf)), size-off)], off); err != nil {
			t.Fatal(err)
		}
	}
}

// mutate rewrites n random blocks of the image with new random content and returns how many
// distinct blocks changed.
func mutate(t *testing.T, path string, n int, seed uint64) int {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	blocks := fi.Size() / 4096
	rng := rand.New(rand.NewPCG(seed, 2))
	seen := map[int64]bool{}
	buf := make([]byte, 4096)
	for len(seen) < n {
		b := rng.Int64N(blocks)
		for i := range buf {
			buf[i] = byte(rng.Uint32() | 1)
		}
		if _, err := f.WriteAt(buf, b*4096); err != nil {
			t.Fatal(err)
		}
		seen[b] = true
	}
	return len(seen)
}

func testConfig(t *testing.T, dir string, disks ...Disk) *Config {
	c := &Config{Machine: "web01", ProcessServer: "127.0.0.1:9443", StateDir: filepath.Join(dir, "state"), Disks: disks,
		Tracker: "scan", CrashConsistentInterval: time.Hour, AppConsistentInterval: 2 * time.Hour,
		FreezeTimeout: 10 * time.Second, InitialPointSize: 4 << 20, MemoryBuffer: 4 << 20, LogLevel: "info"}
	c.Hooks.Timeout = 10 * time.Second
	c.TLS = TLSConfig{CA: "ca.pem", Cert: "a.pem", Key: "a.key"}
	if err := c.check(); err != nil {
		t.Fatal(err)
	}
	return c
}

// running is an agent started in the background.
type running struct {
	a      *Agent
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
	events []Event
}

func startAgent(t *testing.T, cfg *Config, opts Options) *running {
	t.Helper()
	r := &running{done: make(chan error, 1)}
	obs := opts.Observe
	opts.Observe = func(ev Event) {
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
		if obs != nil {
			obs(ev)
		}
	}
	opts.BackoffMin, opts.BackoffMax = 50*time.Millisecond, 200*time.Millisecond
	a, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	r.a = a
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		panic("agent did not stop")
	}
	r.done <- nil
	r.a.Close()
}

func (r *running) has(kind string) *Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.events {
		if r.events[i].Kind == kind {
			return &r.events[i]
		}
	}
	return nil
}

// last returns the newest event of a kind.
func (r *running) last(kind string) *Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].Kind == kind {
			return &r.events[i]
		}
	}
	return nil
}

func TestAgentInitialIncrementalAndRestart(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	const size = 24 << 20
	testImage(t, img, size, 1)
	peer := newTestPeer(t, map[string]int64{"sda": size})
	cfg := testConfig(t, dir, Disk{Name: "sda", Path: img})
	r := startAgent(t, cfg, Options{Dial: peer.dial})
	waitFor(t, "initial replication", 20*time.Second, func() bool { return r.a.initialDone() })
	want, _ := os.ReadFile(img)
	if !bytes.Equal(peer.image("sda", size), want) {
		t.Fatal("replica differs from the image after initial replication")
	}
	_, received := peer.stats()
	partials := 0
	for seq := range received {
		if peer.kinds[seq] == "partial" {
			partials++
		}
	}
	if partials < 3 {
		t.Fatalf("%d partial points, want several of 4 MiB", partials)
	}
	st := r.a.Status()
	if st.State != StateProtected || st.InitialPercent != 100 || st.TrackingPerGiB != 4<<20 {
		t.Fatalf("status %+v", st)
	}
	// Sockets answer.
	qs, err := QueryStatus(context.Background(), cfg.StateDir)
	if err != nil || qs.CommittedSeq != st.CommittedSeq {
		t.Fatalf("status over the socket: %+v %v", qs.CommittedSeq, err)
	}

	// 1% of the blocks change: the next point holds exactly them.
	before, _ := peer.stats()
	changed := mutate(t, img, size/4096/100, 2)
	r.a.Trigger()
	waitFor(t, "the incremental point", 20*time.Second, func() bool { c, _ := peer.stats(); return c > before })
	c, received := peer.stats()
	if received[c] != changed {
		t.Fatalf("incremental point %d carries %d blocks, want %d", c, received[c], changed)
	}
	want, _ = os.ReadFile(img)
	if !bytes.Equal(peer.image("sda", size), want) {
		t.Fatal("replica differs after the incremental point")
	}
	v, err := RequestVerify(context.Background(), cfg.StateDir)
	if err != nil || v.MapDivergent != 0 || v.SourceDiffers != 0 || v.Blocks != size/4096 {
		t.Fatalf("verify %+v %v", v, err)
	}
	r.stop()
	as, err := state.LoadAgent(cfg.StateDir)
	if err != nil || as.Running || as.CommittedSeq != c || !as.InitialDone {
		t.Fatalf("state after a clean stop: %+v %v", as, err)
	}

	// A clean restart needs no resync; a change while stopped goes into the next point.
	changed = mutate(t, img, 7, 3)
	r = startAgent(t, cfg, Options{Dial: peer.dial})
	r.a.Trigger()
	waitFor(t, "the point after the restart", 20*time.Second, func() bool { n, _ := peer.stats(); return n > c })
	_, received = peer.stats()
	n := c + 1
	if received[n] != changed || r.has("resync") != nil {
		t.Fatalf("after a clean restart: %d blocks (want %d), resync %v", received[n], changed, r.has("resync"))
	}
}
