package capacity

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// The commercial service's published sizing of one process server, osr's baseline: a process
// server of 8 vCPU, 16 GB RAM and a 600 GB cache handles up to 500 GB of daily change and about
// 100 protected machines. Sizes are decimal (GB = 10^9 bytes), as published.
const (
	BaselineVCPU        = 8
	BaselineMemoryBytes = 16_000_000_000
	BaselineCacheBytes  = 600_000_000_000
	BaselineDailyChange = 500_000_000_000
	BaselineMachines    = 100
)

// DefaultThroughput is the rate one process server is assumed to take in and upload (bytes per
// second) when the caller gives none: osr's own measured figure, rounded down. The built process
// server (TLS 1.3, durable cache, zstd, AES-256-GCM, upload into a directory store) took in 50
// agents' full points of 32 MiB of incompressible data each at 143 MB/s on the 2-vCPU test
// machine, the agents running on the same two cores (docs/capacity-planning.md, "Measured"):
//
//	OSR_BENCH_DISK_MIB=32 go test -run XXX -bench ProcessServer50Agents -benchtime 3x ./cmd/osr/
//
// A process server on the baseline's 8 vCPU moves more; measure yours and pass it.
const DefaultThroughput = 140_000_000

// Options are the parameters of a plan.
type Options struct {
	// Bandwidth is the source site's uplink to the target in bytes per second; 0: not known (the
	// plan then says what is needed and times initial replication at the process servers' rate).
	Bandwidth float64
	// Throughput is what one process server moves, bytes per second; 0: DefaultThroughput.
	Throughput float64
}

// Machine is one machine's share of a plan.
type Machine struct {
	Name            string  `json:"name"`
	Disks           int     `json:"disks"`
	SizeBytes       int64   `json:"size_bytes"`
	UsedBytes       int64   `json:"used_bytes"`
	DailyChange     float64 `json:"daily_change_bytes"`
	PeakBytesPerSec float64 `json:"peak_bytes_per_second"`
}

// Plan is the sizing of the source site for a set of profiles.
type Plan struct {
	Machines           []Machine `json:"machines"`
	TotalUsedBytes     int64     `json:"total_used_bytes"`
	DailyChange        float64   `json:"daily_change_bytes"`
	PeakBytesPerSec    float64   `json:"peak_bytes_per_second"`
	ProcessServers     int       `json:"process_servers"`
	ProcessServersBy   string    `json:"process_servers_by"` // "daily change", "machines", "peak rate" or "none"
	VCPUPerServer      int       `json:"vcpu_per_server"`
	MemoryPerServer    int64     `json:"memory_bytes_per_server"`
	CachePerServer     int64     `json:"cache_bytes_per_server"`
	CacheTotal         int64     `json:"cache_bytes_total"`
	SustainedBandwidth float64   `json:"sustained_bandwidth_bytes_per_second"`
	RPOBandwidth       float64   `json:"rpo_bandwidth_bytes_per_second"`
	Bandwidth          float64   `json:"bandwidth_bytes_per_second"`
	Throughput         float64   `json:"process_server_throughput_bytes_per_second"`
	InitialReplication float64   `json:"initial_replication_seconds"`
	InitialRate        float64   `json:"initial_replication_bytes_per_second"`
	Warnings           []string  `json:"warnings"`
	Assumptions        []string  `json:"assumptions"`
}

// InitialDuration is the initial-replication time as a duration.
func (p *Plan) InitialDuration() time.Duration {
	return time.Duration(p.InitialReplication * float64(time.Second)).Round(time.Second)
}

// Compute plans for the profiles (each one machine, already checked by Decode). The number of
// process servers is the largest of what the daily change, the machine count and the peak write
// rate need against the baseline; the cache is the baseline's per server; the bandwidth the RPO
// needs is the sum of the machines' peak write rates (a link that carries the peak never builds a
// backlog); initial replication moves the used bytes at the smaller of the bandwidth and the
// process servers' throughput.
func Compute(profiles []*Profile, opts Options) (*Plan, error) {
	if opts.Bandwidth < 0 || math.IsNaN(opts.Bandwidth) || math.IsInf(opts.Bandwidth, 0) {
		return nil, fmt.Errorf("plan: bandwidth %v, want 0 (unknown) or more", opts.Bandwidth)
	}
	if opts.Throughput < 0 || math.IsNaN(opts.Throughput) || math.IsInf(opts.Throughput, 0) {
		return nil, fmt.Errorf("plan: throughput %v, want 0 (default) or more", opts.Throughput)
	}
	if len(profiles) == 0 {
		return nil, errors.New("plan: no profiles")
	}
	tp := opts.Throughput
	if tp == 0 {
		tp = DefaultThroughput
	}
	p := &Plan{Throughput: tp, Bandwidth: opts.Bandwidth, VCPUPerServer: BaselineVCPU,
		MemoryPerServer: BaselineMemoryBytes, CachePerServer: BaselineCacheBytes, Warnings: []string{}}
	seen := map[string]bool{}
	for _, pr := range profiles {
		if seen[pr.Machine] {
			return nil, fmt.Errorf("plan: machine %q has two profiles", pr.Machine)
		}
		seen[pr.Machine] = true
		m := Machine{Name: pr.Machine, Disks: len(pr.Disks)}
		for _, d := range pr.Disks {
			s := Summarize(d.Samples, pr.IntervalSeconds)
			m.SizeBytes += d.SizeBytes
			m.UsedBytes += d.UsedBytes
			m.DailyChange += s.BytesPerDay
			m.PeakBytesPerSec += s.PeakBytesPerSec
		}
		if m.DailyChange > BaselineDailyChange {
			p.Warnings = append(p.Warnings, fmt.Sprintf("machine %q changes %s a day, more than one process server handles (%s): its disks need a process server of their own with more than the baseline's resources",
				m.Name, FormatBytes(m.DailyChange), FormatBytes(BaselineDailyChange)))
		}
		if m.PeakBytesPerSec > tp {
			p.Warnings = append(p.Warnings, fmt.Sprintf("machine %q writes up to %s/s, more than one process server moves (%s/s): its RPO grows during its peaks",
				m.Name, FormatBytes(m.PeakBytesPerSec), FormatBytes(tp)))
		}
		p.Machines = append(p.Machines, m)
		p.TotalUsedBytes += m.UsedBytes
		p.DailyChange += m.DailyChange
		p.PeakBytesPerSec += m.PeakBytesPerSec
	}
	sort.Slice(p.Machines, func(i, j int) bool { return p.Machines[i].Name < p.Machines[j].Name })

	byChange := int(math.Ceil(p.DailyChange / BaselineDailyChange))
	byMachines := (len(p.Machines) + BaselineMachines - 1) / BaselineMachines
	byPeak := int(math.Ceil(p.PeakBytesPerSec / tp))
	p.ProcessServers, p.ProcessServersBy = byMachines, "machines"
	if byChange > p.ProcessServers {
		p.ProcessServers, p.ProcessServersBy = byChange, "daily change"
	}
	if byPeak > p.ProcessServers {
		p.ProcessServers, p.ProcessServersBy = byPeak, "peak rate"
	}
	p.CacheTotal = int64(p.ProcessServers) * BaselineCacheBytes
	p.SustainedBandwidth = p.DailyChange / 86400
	p.RPOBandwidth = p.PeakBytesPerSec
	if opts.Bandwidth > 0 && opts.Bandwidth < p.SustainedBandwidth {
		p.Warnings = append(p.Warnings, fmt.Sprintf("bandwidth %s/s is below the sustained change rate %s/s: replication never catches up",
			FormatBytes(opts.Bandwidth), FormatBytes(p.SustainedBandwidth)))
	} else if opts.Bandwidth > 0 && opts.Bandwidth < p.RPOBandwidth {
		p.Warnings = append(p.Warnings, fmt.Sprintf("bandwidth %s/s is below the peak write rate %s/s: the RPO grows during peaks and recovers after them",
			FormatBytes(opts.Bandwidth), FormatBytes(p.RPOBandwidth)))
	}
	p.InitialRate = tp * float64(p.ProcessServers)
	if opts.Bandwidth > 0 {
		p.InitialRate = min(p.InitialRate, opts.Bandwidth)
	}
	p.InitialReplication = float64(p.TotalUsedBytes) / p.InitialRate
	p.Assumptions = []string{
		fmt.Sprintf("one process server (%d vCPU, %s RAM, %s cache) handles up to %s of daily change and %d machines: the commercial service's published sizing",
			BaselineVCPU, FormatBytes(BaselineMemoryBytes), FormatBytes(BaselineCacheBytes), FormatBytes(BaselineDailyChange), BaselineMachines),
		fmt.Sprintf("one process server moves %s/s", FormatBytes(tp)),
		"daily change is each disk's average churn over its profile, scaled to 24 hours; the peak is its busiest sample interval",
		"initial replication sends the used bytes once, with no change during it",
	}
	if opts.Bandwidth == 0 {
		p.Assumptions = append(p.Assumptions, "bandwidth unknown: initial replication is timed at the process servers' rate")
	}
	return p, nil
}

// FormatBytes renders a byte count in decimal units (kB, MB, GB, TB) with up to one decimal.
func FormatBytes(b float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	i := 0
	for b >= 1000 && i < len(units)-1 {
		b /= 1000
		i++
	}
	if i == 0 || b == math.Trunc(b) {
		return fmt.Sprintf("%.0f %s", b, units[i])
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}
