package extraapi

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/opensiterecovery/osr/internal/vault"
)

func TestBackground(t *testing.T) {
	b := NewBackground()
	var done atomic.Int32
	release := make(chan struct{})
	b.Go(vault.Actor{User: "drill:nightly"}, func(ctx context.Context) {
		if got := vault.ActorOf(ctx).Name(); got != "drill:nightly" {
			t.Errorf("actor %q", got)
		}
		<-release
		done.Add(1)
	})
	b.Go(vault.Actor{User: "plan"}, func(ctx context.Context) {
		<-ctx.Done() // until Close
		done.Add(1)
	})
	close(release)
	b.Close()
	if done.Load() != 2 {
		t.Fatalf("%d of 2 done after Close", done.Load())
	}
	b.Go(vault.Actor{}, func(ctx context.Context) {
		if ctx.Err() == nil {
			t.Error("work started after Close has a live context")
		}
	})
	b.Wait()
}
