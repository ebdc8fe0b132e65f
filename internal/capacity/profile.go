package capacity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// ProfileVersion is the version of the profile document this package writes and reads.
const ProfileVersion = 1

// BlockSize is the unit churn is counted in (the tracker's block).
const BlockSize = 4096

// MaxProfileBytes bounds a profile document Decode accepts.
const MaxProfileBytes = 16 << 20

// Profile is the measured churn of one machine's disks over a profiling run.
type Profile struct {
	Version         int           `json:"version"`
	Machine         string        `json:"machine"`
	Tracker         string        `json:"tracker"`
	Started         time.Time     `json:"started"`
	IntervalSeconds float64       `json:"interval_seconds"`
	BlockSize       int           `json:"block_size"`
	Disks           []DiskProfile `json:"disks"`
}

// DiskProfile is one disk of a profile. Samples are the bytes changed (distinct blocks × block
// size) in each interval, in order; the other counters are derived from them.
type DiskProfile struct {
	Name       string  `json:"name"`
	Path       string  `json:"path"`
	SizeBytes  int64   `json:"size_bytes"`
	UsedBytes  int64   `json:"used_bytes"`
	UsedMethod string  `json:"used_method"` // "seek_data" or "size"
	Samples    []int64 `json:"samples"`
	Summary
}

// Summary are the counters derived from a disk's samples.
type Summary struct {
	ChangedBytes     int64   `json:"changed_bytes"`
	BytesPerHour     float64 `json:"bytes_per_hour"`
	BytesPerDay      float64 `json:"bytes_per_day"`
	PeakIntervalByte int64   `json:"peak_interval_bytes"`
	PeakBytesPerSec  float64 `json:"peak_bytes_per_second"`
}

// Summarize derives the counters of samples taken every interval seconds.
func Summarize(samples []int64, interval float64) Summary {
	var s Summary
	for _, b := range samples {
		s.ChangedBytes += b
		s.PeakIntervalByte = max(s.PeakIntervalByte, b)
	}
	if len(samples) == 0 || interval <= 0 {
		return s
	}
	secs := interval * float64(len(samples))
	s.BytesPerHour = float64(s.ChangedBytes) / secs * 3600
	s.BytesPerDay = s.BytesPerHour * 24
	s.PeakBytesPerSec = float64(s.PeakIntervalByte) / interval
	return s
}

// Encode writes p as indented JSON.
func Encode(w io.Writer, p *Profile) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// Decode reads one profile document and checks it; the derived counters are recomputed from the
// samples (what a document claims for them is not trusted). Bad input returns an error naming the
// field and returns no profile.
func Decode(r io.Reader) (*Profile, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxProfileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if len(b) > MaxProfileBytes {
		return nil, fmt.Errorf("profile: larger than %d bytes", MaxProfileBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("profile: not JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("profile: data after the document")
	}
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("profile %q: %w", p.Machine, err)
	}
	for i := range p.Disks {
		d := &p.Disks[i]
		d.Summary = Summarize(d.Samples, p.IntervalSeconds)
	}
	return &p, nil
}

func (p *Profile) check() error {
	switch {
	case p.Version != ProfileVersion:
		return fmt.Errorf("version %d, want %d", p.Version, ProfileVersion)
	case p.Machine == "":
		return errors.New("no machine")
	case !(p.IntervalSeconds > 0 && p.IntervalSeconds <= 86400):
		return fmt.Errorf("interval_seconds %v, want more than 0 and at most 86400", p.IntervalSeconds)
	case p.BlockSize != BlockSize:
		return fmt.Errorf("block_size %d, want %d", p.BlockSize, BlockSize)
	case len(p.Disks) == 0:
		return errors.New("no disks")
	}
	seen := map[string]bool{}
	for _, d := range p.Disks {
		if d.Name == "" {
			return errors.New("a disk has no name")
		}
		if seen[d.Name] {
			return fmt.Errorf("disk %q twice", d.Name)
		}
		seen[d.Name] = true
		if d.SizeBytes <= 0 {
			return fmt.Errorf("disk %q: size_bytes %d, want more than 0", d.Name, d.SizeBytes)
		}
		if d.UsedBytes < 0 || d.UsedBytes > d.SizeBytes {
			return fmt.Errorf("disk %q: used_bytes %d, want 0 to size_bytes %d", d.Name, d.UsedBytes, d.SizeBytes)
		}
		if len(d.Samples) == 0 {
			return fmt.Errorf("disk %q: no samples", d.Name)
		}
		limit := (d.SizeBytes + BlockSize - 1) / BlockSize * BlockSize
		for i, s := range d.Samples {
			if s < 0 || s > limit || s%BlockSize != 0 {
				return fmt.Errorf("disk %q: sample %d is %d bytes, want a multiple of %d from 0 to %d", d.Name, i, s, BlockSize, limit)
			}
		}
	}
	return nil
}
