//go:build !linux

package freeze

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

// Freeze freezes nothing: with mounts empty it returns a Frozen that thaws at once (the same as on
// Linux); otherwise it returns ErrUnsupported and freezes nothing.
func Freeze(mounts []Mount, timeout time.Duration, clk clock.Clock, log *slog.Logger) (*Frozen, error) {
	if len(mounts) > 0 {
		return nil, ErrUnsupported
	}
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fz := &Frozen{clock: clk, log: log, expired: make(chan struct{}), done: make(chan struct{})}
	fz.start = clk.Now()
	return fz, nil
}

// thawAll has nothing to thaw: no filesystem is ever frozen here.
func (fz *Frozen) thawAll() error {
	fz.files = nil
	return nil
}

// Find returns ErrUnsupported: there is no freeze to find filesystems for.
func Find(disks map[string]string) ([]Mount, error) { return nil, ErrUnsupported }

// Devices returns ErrUnsupported: device numbers of mounted filesystems are a Linux notion here.
func Devices(path string) ([]uint64, error) {
	return nil, fmt.Errorf("devices of %s: %w", path, ErrUnsupported)
}

// parseDev parses a Linux "major:minor" device number (as /proc/self/mountinfo writes it) into
// the encoding of Linux's dev_t, so that ParseMountInfo reads the same on every system.
func parseDev(s string) (uint64, bool) {
	maj, min, ok := strings.Cut(s, ":")
	if !ok {
		return 0, false
	}
	a, err1 := strconv.ParseUint(maj, 10, 32)
	b, err2 := strconv.ParseUint(min, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	dev := (a & 0x00000fff) << 8
	dev |= (a & 0xfffff000) << 32
	dev |= (b & 0x000000ff) << 0
	dev |= (b & 0xffffff00) << 12
	return dev, true
}
