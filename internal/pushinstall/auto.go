package pushinstall

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

// AutoConfig wires an Auto.
type AutoConfig struct {
	Push       func(ctx context.Context, t Target) Result                // (*Pusher).Push
	Resolve    func(ctx context.Context, machine string) (Target, error) // Resolver.Resolve
	HasAgent   func(machine string) bool                                 // the configuration server knows the machine's agent
	RetryAfter time.Duration                                             // after a failed push; default 15 minutes
	Clock      clock.Clock
	Logger     *slog.Logger
}

// Auto pushes the mobility service to machines that replication was enabled for and that have no
// agent yet, as the seed's portal does when replication is enabled. It runs each machine's push
// in the background, one at a time per machine, and retries a failed one after RetryAfter.
type Auto struct {
	cfg   AutoConfig
	mu    sync.Mutex
	state map[string]*autoState
	wg    sync.WaitGroup
}

type autoState struct {
	running bool
	last    time.Time
	result  Result
}

// NewAuto checks cfg.
func NewAuto(cfg AutoConfig) (*Auto, error) {
	if cfg.Push == nil || cfg.Resolve == nil || cfg.HasAgent == nil {
		return nil, errors.New("auto push: push, resolve and has-agent are required")
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = 15 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Auto{cfg: cfg, state: map[string]*autoState{}}, nil
}

// Wanted is told the machines the vault wants replicated (call it on every desired-state change,
// and now and then). It starts a push for each one without an agent, unless a push of it runs or
// failed less than RetryAfter ago. It returns the machines it started pushes for, sorted.
func (a *Auto) Wanted(ctx context.Context, machines []string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.cfg.Clock.Now()
	var started []string
	for _, m := range machines {
		if a.cfg.HasAgent(m) {
			continue
		}
		st := a.state[m]
		if st == nil {
			st = &autoState{}
			a.state[m] = st
		}
		if st.running || (!st.last.IsZero() && st.result.Err != nil && now.Sub(st.last) < a.cfg.RetryAfter) {
			continue
		}
		st.running, st.last = true, now
		started = append(started, m)
		a.wg.Add(1)
		go a.push(context.WithoutCancel(ctx), m)
	}
	slices.Sort(started)
	return started
}

func (a *Auto) push(ctx context.Context, machine string) {
	defer a.wg.Done()
	var res Result
	if t, err := a.cfg.Resolve(ctx, machine); err != nil {
		res = Result{Machine: machine, Err: err, Error: err.Error()}
		a.cfg.Logger.WarnContext(ctx, "automatic push install: machine not reachable from the inventory", "machine", machine, "err", err)
	} else {
		res = a.cfg.Push(ctx, t)
	}
	a.mu.Lock()
	st := a.state[machine]
	st.running, st.result, st.last = false, res, a.cfg.Clock.Now()
	a.mu.Unlock()
}

// Results returns the last result of every machine pushed automatically (for events and status).
func (a *Auto) Results() map[string]Result {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]Result{}
	for m, st := range a.state {
		if !st.running && !st.last.IsZero() {
			out[m] = st.result
		}
	}
	return out
}

// Wait waits for the running pushes.
func (a *Auto) Wait() { a.wg.Wait() }
