package mobility

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
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
