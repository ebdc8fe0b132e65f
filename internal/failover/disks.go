package failover

import (
	"context"

	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/target"
)

// openStoreDisks opens every disk of pt from the store (target.StoreDisk: data extents from the
// tree's fingerprints, raw export in parallel).
func openStoreDisks(_ context.Context, repo *store.Repo, pt *store.Point) ([]target.Disk, error) {
	return target.OpenStoreDisks(repo, pt)
}
