//go:build !linux

package ebpf

import (
	"errors"
	"log/slog"

	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// Options configure the tracker.
type Options struct {
	Logger *slog.Logger
	Sysfs  string
}

var errOS = errors.New("the ebpf tracker needs Linux")

// NewTracker fails: the ebpf tracker needs Linux.
func NewTracker(Options) (tracker.Tracker, error) { return nil, errOS }

// Probe fails: the ebpf tracker needs Linux.
func Probe() error { return errOS }

// CheckPaths fails: the ebpf tracker needs Linux.
func CheckPaths([]string) error { return errOS }
