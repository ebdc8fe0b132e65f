package extraapi

import (
	"context"
	"sync"

	"github.com/opensiterecovery/osr/internal/vault"
)

// Background is the work a service runs past the request that started it (a plan's run, a
// drill's firing). The work lives in a context of the service's own, not the request's, which
// Close cancels before it waits for the work to end. It is safe for concurrent use; make it with
// NewBackground.
type Background struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewBackground returns a Background whose context is not cancelled yet.
func NewBackground() *Background {
	b := &Background{}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return b
}

// Go runs fn in a goroutine of its own with the background context, acting as actor. After
// Close, fn still runs, with a cancelled context.
func (b *Background) Go(actor vault.Actor, fn func(ctx context.Context)) {
	ctx := vault.WithActor(b.ctx, actor)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn(ctx)
	}()
}

// Wait blocks until no work started with Go is going on.
func (b *Background) Wait() { b.wg.Wait() }

// Close cancels the work's context and waits for the work to end.
func (b *Background) Close() {
	b.cancel()
	b.wg.Wait()
}
