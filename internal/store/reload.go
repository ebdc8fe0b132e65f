package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/storage"
)

// ReloadIndex brings the in-memory index up to date with the store. When an index object it had
// loaded is gone (a prune replaced it), the index is rebuilt from scratch, so that blobs a prune has
// condemned are no longer used for deduplication or reads.
func (r *Repo) ReloadIndex(ctx context.Context) error {
	present := map[ID]bool{}
	if err := r.be.List(ctx, indexPrefix, func(fi storage.Info) error {
		if id, err := crypto.ParseID(strings.TrimPrefix(fi.Name, indexPrefix)); err == nil {
			present[id] = true
		}
		return nil
	}); err != nil {
		return fmt.Errorf("list index: %w", err)
	}
	r.mu.Lock()
	stale := false
	for id := range r.loaded {
		if !present[id] {
			stale = true
			break
		}
	}
	if stale {
		r.loaded = map[ID]bool{}
		r.index.reset()
	}
	r.mu.Unlock()
	return r.LoadIndex(ctx)
}

// Session takes a lock of the given kind and then refreshes the index, in that order: a prune that
// decides after the lock exists will wait for it, and one that decided before has already replaced
// the index this session reads.
func (r *Repo) Session(ctx context.Context, kind string) (*Lock, error) {
	l, err := r.Lock(ctx, kind)
	if err != nil {
		return nil, err
	}
	if err := r.ReloadIndex(ctx); err != nil {
		l.Release()
		return nil, err
	}
	return l, nil
}
