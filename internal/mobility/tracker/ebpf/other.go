//go:build !linux

package ebpf

import (
	"errors"
	"log/slog"
)

// Options configure the tracker.
type Options struct {
	Logger *slog.Logger
	Sysfs  string
}

var errOS = errors.New("the ebpf tracker needs Linux")

// Tracker is not available off Linux.
type Tracker struct{ unavailable }

type unavailable struct{}

// New fails: the ebpf tracker needs Linux.
func New(Options) (*Tracker, error) { return nil, errOS }

// Probe fails: the ebpf tracker needs Linux.
func Probe() error { return errOS }

// CheckPaths fails: the ebpf tracker needs Linux.
func CheckPaths([]string) error { return errOS }
