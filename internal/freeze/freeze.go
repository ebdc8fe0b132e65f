package freeze

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

// ErrUnsupported is returned by Find and Freeze on systems other than Linux, where this operating system has no filesystem
// freeze that osr drives (FIFREEZE is Linux's; Windows needs VSS, which is not implemented yet).
var ErrUnsupported = fmt.Errorf("filesystem freeze is not supported on %s; points are crash-consistent without a freeze", runtime.GOOS)

// Frozen is a set of frozen filesystems. Thaw it exactly once; it thaws by itself when the bound
// given to Freeze passes first.
type Frozen struct {
	mounts   []Mount
	files    []*os.File
	start    time.Time
	clock    clock.Clock
	log      *slog.Logger
	once     sync.Once
	done     chan struct{} // closed by Thaw: stops the watchdog
	expired  chan struct{}
	thawErr  error
	duration time.Duration
}

// Expired is closed when the freeze outlasted its bound and was thawed by the watchdog.
func (fz *Frozen) Expired() <-chan struct{} { return fz.expired }

// IsExpired reports whether the watchdog thawed the filesystems.
func (fz *Frozen) IsExpired() bool {
	select {
	case <-fz.expired:
		return true
	default:
		return false
	}
}

// Thaw thaws every frozen filesystem (each one even if another fails) and returns how long they were
// frozen and the first error. It is safe to call more than once and from several goroutines; later
// calls return the first call's result.
func (fz *Frozen) Thaw() (time.Duration, error) {
	fz.once.Do(func() {
		close(fz.done)
		fz.thawErr = fz.thawAll()
		fz.duration = fz.clock.Now().Sub(fz.start)
		if len(fz.mounts) > 0 {
			fz.log.Info("filesystems thawed", "frozen_for", fz.duration, "mounts", fz.points())
		}
	})
	return fz.duration, fz.thawErr
}

func (fz *Frozen) points() string {
	p := make([]string, len(fz.mounts))
	for i, m := range fz.mounts {
		p[i] = m.Point
	}
	return strings.Join(p, ",")
}

// Mounts returns the frozen filesystems.
func (fz *Frozen) Mounts() []Mount { return fz.mounts }
