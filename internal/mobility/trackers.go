package mobility

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/opensiterecovery/osr/internal/mobility/tracker"
	"github.com/opensiterecovery/osr/internal/mobility/tracker/ebpf"
)

// EBPFCrashConsistentInterval is the crash-consistent cadence with the ebpf tracker when the
// configuration sets none: a point costs what changed, so points come often.
const EBPFCrashConsistentInterval = 5 * time.Second

// chooseTracker returns the tracker the configuration names. For auto it is ebpf where the kernel
// and the disks allow it, else scan with the reason.
func chooseTracker(cfg *Config, log *slog.Logger) (t tracker.Tracker, fallback string, err error) {
	paths := make([]string, len(cfg.Disks))
	for i, d := range cfg.Disks {
		paths[i] = d.Path
	}
	usable := func() error {
		if err := ebpf.CheckPaths(paths); err != nil {
			return err
		}
		return ebpf.Probe()
	}
	switch cfg.Tracker {
	case "scan":
		return tracker.NewScan(), "", nil
	case "ebpf":
		if err := usable(); err != nil {
			return nil, "", fmt.Errorf("tracker ebpf: %w", err)
		}
		t, err := ebpf.NewTracker(ebpf.Options{Logger: log, PinDir: ebpf.PinDir(cfg.Machine)})
		return t, "", err
	case "auto", "":
		if err := usable(); err != nil {
			return tracker.NewScan(), err.Error(), nil
		}
		t, err := ebpf.NewTracker(ebpf.Options{Logger: log, PinDir: ebpf.PinDir(cfg.Machine)})
		if err != nil {
			return tracker.NewScan(), err.Error(), nil
		}
		return t, "", nil
	}
	return nil, "", fmt.Errorf("unknown tracker %q (want scan, ebpf or auto)", cfg.Tracker)
}

// resumer is a tracker that can keep tracking while the service is stopped (the ebpf tracker's
// pins): Suspend at a clean stop instead of Close, and Resumed after Start says whether the first
// Changes covers the writes made meanwhile.
type resumer interface {
	// Suspend ends this process's tracking, keeps recording writes for the next Start, and puts
	// back extra: per disk, blocks consumed but not committed. On error it closes as Close does.
	Suspend(extra map[string]*tracker.Bitmap) error
	// Resumed reports whether Start took over a clean stop's tracking with nothing lost; if not, why.
	Resumed() (bool, string)
}
