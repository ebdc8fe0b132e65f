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
		t, err := ebpf.NewTracker(ebpf.Options{Logger: log})
		return t, "", err
	case "auto", "":
		if err := usable(); err != nil {
			return tracker.NewScan(), err.Error(), nil
		}
		t, err := ebpf.NewTracker(ebpf.Options{Logger: log})
		if err != nil {
			return tracker.NewScan(), err.Error(), nil
		}
		return t, "", nil
	}
	return nil, "", fmt.Errorf("unknown tracker %q (want scan, ebpf or auto)", cfg.Tracker)
}
