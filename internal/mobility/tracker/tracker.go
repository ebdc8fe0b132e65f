package tracker

import (
	"context"
	"fmt"
)

// Disk is a disk a tracker follows.
type Disk struct {
	Name string
	Path string // block device or image file
	Size int64  // bytes
}

// Changes is what a tracker knows about one disk since the previous call to Changes for it.
type Changes struct {
	// All is set when every block is a candidate: the tracker cannot narrow the set (the scan
	// tracker). The caller compares every block's fingerprint with its replica map.
	All bool
	// Dirty marks the blocks that may have changed (a superset of those written). Nil when All.
	Dirty *Bitmap
	// Gap, when not empty, says why the tracker could not follow the writes for some time (for
	// example "started after an unclean stop" or "dropped 12 events"): what it reports cannot be
	// trusted, and the caller must resynchronise the disk by comparing every block with the replica.
	Gap string
}

// Tracker follows the writes to a machine's protected disks.
//
// Guarantee: for each disk, the blocks reported by two consecutive calls of Changes cover every
// block written between the start of the first call and the start of the second (a superset; a
// block may be reported although it did not change), or the second call reports a gap. The first
// call after Start covers everything written since Start (writes while the service was stopped are
// not the tracker's business: the service compares every block after a start). Implementations
// are safe for concurrent use.
type Tracker interface {
	// Name identifies the tracker in status and logs ("scan", "ebpf").
	Name() string
	// Start begins tracking the disks; uncleanStop tells that the previous run of the service did
	// not stop cleanly, which a tracker that persists state turns into a gap.
	Start(ctx context.Context, disks []Disk, uncleanStop bool) error
	// Changes returns what may have changed on the named disk since the previous call.
	Changes(ctx context.Context, disk string) (Changes, error)
	// StateBytes is the memory the tracker keeps per disk, for status.
	StateBytes() int64
	// Close stops tracking.
	Close() error
}

// Scan is the portable tracker: it reports every block as a candidate and leaves the comparison to
// the caller's fingerprints. It works with any file or device on any operating system and never
// reports a gap, since it keeps no state that could be lost.
type Scan struct {
	disks map[string]bool
}

// NewScan returns a scan tracker.
func NewScan() *Scan { return &Scan{} }

// Name returns "scan".
func (*Scan) Name() string { return "scan" }

// Start records the disks.
func (s *Scan) Start(_ context.Context, disks []Disk, _ bool) error {
	s.disks = make(map[string]bool, len(disks))
	for _, d := range disks {
		s.disks[d.Name] = true
	}
	return nil
}

// Changes reports every block of the disk as a candidate.
func (s *Scan) Changes(_ context.Context, disk string) (Changes, error) {
	if !s.disks[disk] {
		return Changes{}, fmt.Errorf("tracker: unknown disk %q", disk)
	}
	return Changes{All: true}, nil
}

// StateBytes is zero: the scan tracker keeps nothing per block.
func (*Scan) StateBytes() int64 { return 0 }

// Close does nothing.
func (*Scan) Close() error { return nil }

// New returns the portable tracker for "scan" and "auto"; the ebpf tracker lives in package ebpf
// (the mobility service chooses between them, see docs/ebpf.md).
func New(name string) (Tracker, error) {
	switch name {
	case "scan", "auto", "":
		return NewScan(), nil
	case "ebpf":
		return nil, fmt.Errorf("tracker ebpf is built by package ebpf, not tracker.New")
	}
	return nil, fmt.Errorf("unknown tracker %q (want scan, ebpf or auto)", name)
}

// Stats are what a tracker that can lose track counts; status shows them.
type Stats struct {
	Drops  uint64 // records the tracker lost (a full buffer)
	Misses uint64 // times the probe did not run
	Gaps   uint64 // gaps reported to the caller
}

// Counter is implemented by trackers that can lose track (not the scan tracker).
type Counter interface {
	Stats() Stats
}
