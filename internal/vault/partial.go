package vault

import "github.com/opensiterecovery/osr/internal/store"

// isPartial reports whether a point is a chunk of initial replication, never offered for recovery.
func isPartial(p *store.Point) bool { return p.Partial }
