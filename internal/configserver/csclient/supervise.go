package csclient

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Supervisor runs at most one instance of a holder's data path (the agent's replication, the
// process server's listener) and replaces it when the configuration server's configuration
// changes. An instance that returns an error before it is stopped is started again after a
// backoff of 5 s, doubling up to a minute. It is safe for concurrent use.
type Supervisor struct {
	Logger *slog.Logger

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// Replace stops the running instance, waits until it has returned, and starts run in its place
// with a context derived from ctx (nil run: nothing runs afterwards). name is for the log.
func (s *Supervisor) Replace(ctx context.Context, name string, run func(context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	if run == nil {
		return
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.cancel, s.done = cancel, done
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	go func() {
		defer close(done)
		backoff := 5 * time.Second
		for {
			err := run(rctx)
			if rctx.Err() != nil {
				return
			}
			log.Error(name+" stopped; starting it again", "err", err, "in", backoff.String())
			select {
			case <-rctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Minute)
		}
	}()
}

// Stop stops the running instance, if any, and waits until it has returned.
func (s *Supervisor) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Supervisor) stopLocked() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
	s.cancel, s.done = nil, nil
}
