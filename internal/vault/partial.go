package vault

import "github.com/opensiterecovery/osr/internal/store"

// isPartial reports whether a point is a chunk of initial replication, never offered for recovery.
// The store marks such points with Partial (docs/pipeline.md); until that field lands in
// internal/store, no point is partial.
func isPartial(p *store.Point) bool {
	_ = p
	return false
}
