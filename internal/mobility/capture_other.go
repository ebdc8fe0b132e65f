//go:build !linux

package mobility

import "github.com/opensiterecovery/osr/internal/freeze"

// onFrozen reports whether dir lives on one of the filesystems to be frozen. Without device
// numbers to compare (no freeze on this system, so mounts is always empty) it assumes the worst
// when there is any mount.
func onFrozen(dir string, mounts []freeze.Mount) bool { return len(mounts) > 0 }
