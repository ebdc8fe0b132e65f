package mobility

import (
	"os"
	"syscall"

	"github.com/opensiterecovery/osr/internal/freeze"
)

// onFrozen reports whether dir lives on one of the filesystems to be frozen.
func onFrozen(dir string, mounts []freeze.Mount) bool {
	fi, err := os.Stat(dir)
	if err != nil {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	for _, m := range mounts {
		if st.Dev == m.Dev {
			return true
		}
	}
	return false
}
