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
	PinDir string
}

var errOS = errors.New("the ebpf tracker needs Linux")

// NewTracker fails: the ebpf tracker needs Linux.
func NewTracker(Options) (tracker.Tracker, error) { return nil, errOS }

// Probe fails: the ebpf tracker needs Linux.
func Probe() error { return errOS }

// CheckPaths fails: the ebpf tracker needs Linux.
func CheckPaths([]string) error { return errOS }

// PinDir names the pin directory of a machine's tracker (unused off Linux).
func PinDir(machine string) string { return "/sys/fs/bpf/osr/" + machine }

// RemovePins does nothing: there are no pins off Linux.
func RemovePins(string) error { return nil }
