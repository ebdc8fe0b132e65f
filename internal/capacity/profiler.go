package capacity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/directio"
	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// Disk is a disk to profile.
type Disk struct {
	Name string
	Path string
}

// ProfilerConfig are the inputs of a Profiler.
type ProfilerConfig struct {
	Machine string
	Disks   []Disk
	// Tracker narrows what each sample reads (its dirty bitmap); one that reports every block (the
	// scan tracker) makes each sample read the whole disk. Nil: the scan tracker.
	Tracker tracker.Tracker
	Clock   clock.Clock // nil: clock.Real
}

// Profiler counts the distinct blocks that change on each disk between samples: it keeps each
// block's fingerprint and compares the blocks the tracker reports as candidates. It reads the
// disks and writes nothing.
type Profiler struct {
	cfg      ProfilerConfig
	started  time.Time
	last     time.Time
	interval float64
	disks    []*pdisk
}

type pdisk struct {
	d       Disk
	f       *os.File
	size    int64
	used    int64
	method  string
	fps     []tracker.Fingerprint
	samples []int64
	read    int64 // bytes read by the samples (not the baseline)
}

// NewProfiler opens the disks, starts the tracker on them and takes the first fingerprints (the
// baseline later samples are compared with). Close releases the disks.
func NewProfiler(ctx context.Context, cfg ProfilerConfig) (*Profiler, error) {
	if cfg.Machine == "" {
		return nil, errors.New("profile: no machine name")
	}
	if len(cfg.Disks) == 0 {
		return nil, errors.New("profile: no disks")
	}
	if cfg.Tracker == nil {
		cfg.Tracker = tracker.NewScan()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	p := &Profiler{cfg: cfg}
	var tds []tracker.Disk
	for _, d := range cfg.Disks {
		pd, err := openDisk(d)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.disks = append(p.disks, pd)
		tds = append(tds, tracker.Disk{Name: d.Name, Path: d.Path, Size: pd.size})
	}
	if err := cfg.Tracker.Start(ctx, tds, false); err != nil {
		p.Close()
		return nil, fmt.Errorf("profile: start tracker %s: %w", cfg.Tracker.Name(), err)
	}
	for _, pd := range p.disks {
		if _, err := cfg.Tracker.Changes(ctx, pd.d.Name); err != nil { // from here on
			p.Close()
			return nil, fmt.Errorf("profile: disk %s: %w", pd.d.Name, err)
		}
		if _, _, err := pd.compare(ctx, nil); err != nil {
			p.Close()
			return nil, err
		}
	}
	p.started = cfg.Clock.Now()
	p.last = p.started
	return p, nil
}

// openDisk opens a disk for reading; a block device with O_DIRECT where it can, since the writes of a
// mounted file system do not pass through the device's page cache (a cached read would miss them).
func openDisk(d Disk) (*pdisk, error) {
	f, err := os.Open(d.Path)
	if err == nil {
		if st, serr := f.Stat(); serr == nil && st.Mode()&os.ModeDevice != 0 {
			if df, derr := directio.OpenFile(d.Path, os.O_RDONLY, 0); derr == nil {
				f.Close()
				f = df
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("profile: disk %s: %w", d.Name, err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil || size <= 0 {
		f.Close()
		if err == nil {
			err = errors.New("empty")
		}
		return nil, fmt.Errorf("profile: disk %s: size: %w", d.Name, err)
	}
	pd := &pdisk{d: d, f: f, size: size, fps: make([]tracker.Fingerprint, tracker.Blocks(size))}
	pd.used, pd.method = usedBytes(f, size)
	return pd, nil
}

// compare reads the candidate blocks (all when dirty is nil), counts those whose fingerprint
// changed and keeps the new fingerprints.
func (pd *pdisk) compare(ctx context.Context, dirty *tracker.Bitmap) (changed, read int64, err error) {
	const chunk = 256 // blocks per read
	buf := directio.AlignedBuffer(chunk * tracker.BlockSize)
	n := int64(len(pd.fps))
	for first := int64(0); first < n; first += chunk {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		last := min(first+chunk, n)
		if dirty != nil {
			if nx := dirty.Next(first); nx < 0 || nx >= last {
				continue
			}
		}
		m, err := pd.f.ReadAt(buf[:(last-first)*tracker.BlockSize], first*tracker.BlockSize)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, fmt.Errorf("profile: disk %s: read: %w", pd.d.Name, err)
		}
		clear(buf[m:])
		read += int64(m)
		for i := first; i < last; i++ {
			if dirty != nil && !dirty.Has(i) {
				continue
			}
			off := (i - first) * tracker.BlockSize
			fp := tracker.HashOf(buf[off : off+tracker.BlockSize])
			if fp != pd.fps[i] {
				pd.fps[i] = fp
				changed++
			}
		}
	}
	return changed, read, nil
}

// Sample ends an interval: for each disk it counts the distinct blocks changed since the previous
// sample and returns them in bytes, in the order of the disks. The first sample after a baseline
// where the tracker reports a gap compares every block.
func (p *Profiler) Sample(ctx context.Context) ([]int64, error) {
	out := make([]int64, len(p.disks))
	for i, pd := range p.disks {
		ch, err := p.cfg.Tracker.Changes(ctx, pd.d.Name)
		if err != nil {
			return nil, fmt.Errorf("profile: disk %s: %w", pd.d.Name, err)
		}
		var dirty *tracker.Bitmap
		if !ch.All && ch.Gap == "" {
			dirty = ch.Dirty
			if dirty == nil {
				dirty = tracker.NewBitmap(int64(len(pd.fps)))
			}
		}
		n, read, err := pd.compare(ctx, dirty)
		if err != nil {
			return nil, err
		}
		pd.read += read
		out[i] = n * tracker.BlockSize
	}
	for i, pd := range p.disks {
		pd.samples = append(pd.samples, out[i])
	}
	p.last = p.cfg.Clock.Now()
	return out, nil
}

// Profile returns the document of the samples taken so far; interval is the nominal sample interval.
func (p *Profiler) Profile(interval time.Duration) *Profile {
	pr := &Profile{Version: ProfileVersion, Machine: p.cfg.Machine, Tracker: p.cfg.Tracker.Name(),
		Started: p.started.UTC(), IntervalSeconds: interval.Seconds(), BlockSize: BlockSize}
	for _, pd := range p.disks {
		dp := DiskProfile{Name: pd.d.Name, Path: pd.d.Path, SizeBytes: pd.size, UsedBytes: pd.used,
			UsedMethod: pd.method, Samples: append([]int64{}, pd.samples...)}
		dp.Summary = Summarize(dp.Samples, pr.IntervalSeconds)
		pr.Disks = append(pr.Disks, dp)
	}
	return pr
}

// ReadBytes is what the samples read from the disks so far (the baseline not counted): with a
// tracker that narrows, far less than the disks' size per sample.
func (p *Profiler) ReadBytes() int64 {
	var n int64
	for _, pd := range p.disks {
		n += pd.read
	}
	return n
}

// Close releases the disks and stops the tracker.
func (p *Profiler) Close() error {
	var errs []error
	for _, pd := range p.disks {
		errs = append(errs, pd.f.Close())
	}
	if p.cfg.Tracker != nil {
		errs = append(errs, p.cfg.Tracker.Close())
	}
	return errors.Join(errs...)
}
