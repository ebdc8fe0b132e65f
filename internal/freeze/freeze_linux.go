package freeze

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/opensiterecovery/osr/internal/clock"
)

// ioctl numbers of linux/fs.h: _IOWR('X', 119, int) and _IOWR('X', 120, int).
const (
	fiFreeze = 0xC0045877
	fiThaw   = 0xC0045878
)

// Freeze freezes every filesystem of mounts, in order. If one cannot be frozen, the ones already
// frozen are thawed and the error names the mount point. After timeout the filesystems are thawed
// whatever the caller does; Expired tells it. Nothing is frozen when mounts is empty.
func Freeze(mounts []Mount, timeout time.Duration, clk clock.Clock, log *slog.Logger) (*Frozen, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fz := &Frozen{mounts: mounts, clock: clk, log: log, expired: make(chan struct{}), done: make(chan struct{})}
	for _, m := range mounts {
		f, err := os.Open(m.Point)
		if err != nil {
			fz.thawAll()
			return nil, fmt.Errorf("freeze %s: %w", m.Point, err)
		}
		if err := ioctl(f, fiFreeze); err != nil {
			f.Close()
			fz.thawAll()
			if errors.Is(err, unix.EBUSY) {
				return nil, fmt.Errorf("freeze %s: already frozen by someone else", m.Point)
			}
			return nil, fmt.Errorf("freeze %s: %w", m.Point, err)
		}
		fz.files = append(fz.files, f)
	}
	fz.start = clk.Now()
	if timeout > 0 {
		go func() {
			t := time.NewTimer(timeout)
			defer t.Stop()
			select {
			case <-t.C:
				close(fz.expired)
				fz.Thaw() // first: the log may live on a frozen filesystem
				log.Warn("freeze outlasted its bound: thawed", "timeout", timeout, "mounts", fz.points())
			case <-fz.done:
			}
		}()
	}
	return fz, nil
}

func ioctl(f *os.File, req uint) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), uintptr(req), 0)
	if e != 0 {
		return e
	}
	return nil
}

func (fz *Frozen) thawAll() error {
	var first error
	for i := len(fz.files) - 1; i >= 0; i-- {
		f := fz.files[i]
		// A thaw is retried: it must not be lost to a signal.
		var err error
		for range 3 {
			if err = ioctl(f, fiThaw); err == nil || !errors.Is(err, unix.EINTR) {
				break
			}
		}
		if err != nil && !errors.Is(err, unix.EINVAL) && first == nil { // EINVAL: not frozen
			first = fmt.Errorf("thaw %s: %w", f.Name(), err)
		}
		f.Close()
	}
	fz.files = nil
	return first
}
