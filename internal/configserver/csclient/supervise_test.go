package csclient

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestSupervisorReplaceStopsTheOldInstanceFirst(t *testing.T) {
	var s Supervisor
	var running atomic.Int32
	var overlap atomic.Bool
	run := func(ctx context.Context) error {
		if running.Add(1) > 1 {
			overlap.Store(true)
		}
		<-ctx.Done()
		time.Sleep(10 * time.Millisecond) // a slow shutdown
		running.Add(-1)
		return ctx.Err()
	}
	ctx := context.Background()
	for range 5 {
		s.Replace(ctx, "test", run)
	}
	s.Stop()
	if overlap.Load() {
		t.Fatal("two instances ran at once")
	}
	if n := running.Load(); n != 0 {
		t.Fatalf("%d instances still running after Stop", n)
	}
	s.Stop() // stopping nothing is fine
}

func TestSupervisorRestartsAFailedInstance(t *testing.T) {
	var s Supervisor
	var starts atomic.Int32
	s.Replace(context.Background(), "test", func(ctx context.Context) error {
		starts.Add(1)
		return errors.New("store unreachable")
	})
	time.Sleep(100 * time.Millisecond)
	if n := starts.Load(); n != 1 {
		t.Fatalf("%d starts within 100 ms, want 1 (the next after the 5 s backoff)", n)
	}
	done := make(chan struct{})
	go func() { s.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Stop did not end the backoff wait")
	}
}
