package failover

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/target/local"
)

// The providers and the source side the tests use.

// gate holds Create of the "gated" provider until opened.
type gate struct {
	mu      sync.Mutex
	ch      chan struct{}
	entered chan struct{}
}

func newGate() *gate { return &gate{ch: make(chan struct{}), entered: make(chan struct{}, 16)} }

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.ch:
	default:
		close(g.ch)
	}
}

type gatedProvider struct {
	target.Provider
	g *gate
}

func (p gatedProvider) Create(ctx context.Context, req target.Request, progress target.Progress) (target.Result, error) {
	p.g.entered <- struct{}{}
	select {
	case <-p.g.ch:
	case <-ctx.Done():
		return target.Result{}, ctx.Err()
	}
	return p.Provider.Create(ctx, req, progress)
}

// flakyDisk fails reads past 1 MiB while flaky is set.
type flakyDisk struct {
	target.Disk
	flaky *atomic.Bool
}

var errInjected = errors.New("injected read error")

func (d flakyDisk) ReadAt(p []byte, off int64) (int, error) {
	if d.flaky.Load() && off+int64(len(p)) > 1<<20 {
		return 0, errInjected
	}
	return d.Disk.ReadAt(p, off)
}

// flakyProvider is the local provider reading its disks through flakyDisk (no raw export, so
// that every byte goes through ReadAt).
type flakyProvider struct {
	target.Provider
	flaky *atomic.Bool
}

func (p flakyProvider) Create(ctx context.Context, req target.Request, progress target.Progress) (target.Result, error) {
	for i, d := range req.Disks {
		req.Disks[i] = flakyDisk{Disk: d, flaky: p.flaky}
	}
	return p.Provider.Create(ctx, req, progress)
}

var flaky atomic.Bool

// testProviders is the registry the tests use: the real local provider, the same behind a gate,
// and the same with reads that fail while flaky is set.
func testProviders(g *gate) map[string]Factory {
	newLocal := func(tc TargetConfig) (*local.Provider, error) {
		c, err := local.ConfigFromSettings(tc.Settings)
		if err != nil {
			return nil, err
		}
		if !filepath.IsAbs(c.Dir) {
			return nil, fmt.Errorf("local target: dir %q is not an absolute path", c.Dir)
		}
		return local.New(c)
	}
	return map[string]Factory{
		"local": func(tc TargetConfig) (target.Provider, error) { return newLocal(tc) },
		"flaky": func(tc TargetConfig) (target.Provider, error) {
			p, err := newLocal(tc)
			if err != nil {
				return nil, err
			}
			return flakyProvider{Provider: p, flaky: &flaky}, nil
		},
		"gated": func(tc TargetConfig) (target.Provider, error) {
			p, err := newLocal(tc)
			if err != nil {
				return nil, err
			}
			return gatedProvider{Provider: p, g: g}, nil
		},
	}
}

// fakeSource is the source side: FinalSync and LatestReceived commit a new point (the last
// writes of the machine) and return it.
type fakeSource struct {
	e     *env
	mu    sync.Mutex
	calls []string
	fail  error
}

func (f *fakeSource) FinalSync(ctx context.Context, v, machine string, shutdown bool) (string, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("final-sync %s %s %v", v, machine, shutdown))
	err := f.fail
	f.mu.Unlock()
	if err != nil {
		return "", err
	}
	return f.e.commitTo(f.e.psRepo, machine, store.CommitMeta{Time: f.e.clk.Now().Add(-time.Second), Consistency: store.CrashConsistent}, "final sync"), nil
}

func (f *fakeSource) LatestReceived(ctx context.Context, v, machine string) (string, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("latest-received %s %s", v, machine))
	f.mu.Unlock()
	return f.e.commitTo(f.e.psRepo, machine, store.CommitMeta{Time: f.e.clk.Now().Add(-2 * time.Second), Consistency: store.CrashConsistent}, "received"), nil
}
