package capacity

import (
	"fmt"
	"strings"
	"testing"
)

// prof is a one-disk profile of machine name: used bytes and samples of 60 s.
func prof(name string, used int64, samples ...int64) *Profile {
	return &Profile{Version: 1, Machine: name, IntervalSeconds: 60, BlockSize: BlockSize,
		Disks: []DiskProfile{{Name: "sda", SizeBytes: 1 << 40, UsedBytes: used, Samples: samples}}}
}

func TestCompute(t *testing.T) {
	const gb = 1_000_000_000
	// A disk changing 4096 MB... per minute: exact daily figures come from samples × 1440.
	perMinute := func(daily int64) int64 { return daily / 1440 / BlockSize * BlockSize }
	day := make([]int64, 1440) // one busy minute in a day
	day[100] = 200_000_000 / BlockSize * BlockSize * 60
	many := make([]*Profile, 250)
	for i := range many {
		many[i] = prof(fmt.Sprintf("m%03d", i), 10*gb, 0, 4096)
	}
	for _, tc := range []struct {
		name      string
		profiles  []*Profile
		opts      Options
		servers   int
		by        string
		cache     int64
		sustained float64
		rpo       float64
		initial   float64
		warnings  []string
	}{
		{"zero churn", []*Profile{prof("web01", 100*gb, 0, 0, 0)}, Options{}, 1, "machines", 600 * gb, 0, 0, float64(100*gb) / DefaultThroughput, []string{}},
		{"one machine, known bandwidth", []*Profile{prof("db01", 50*gb, 4096*1000, 0)}, Options{Bandwidth: 10_000_000},
			1, "machines", 600 * gb, 4096 * 1000 * 720 / 86400.0, 4096 * 1000 / 60.0, 5000, []string{}},
		{"huge machine over the limit", []*Profile{prof("big", 2000*gb, perMinute(1200*gb))}, Options{Throughput: 1e9},
			3, "daily change", 1800 * gb, float64(perMinute(1200*gb)) * 1440 / 86400, float64(perMinute(1200*gb)) / 60, 2000.0 / 3,
			[]string{`machine "big" changes 1.2 TB a day, more than one process server handles (500 GB): its disks need a process server of their own with more than the baseline's resources`}},
		{"many small machines", many, Options{}, 3, "machines", 1800 * gb, 250 * 4096 * 720 / 86400.0, 250 * 4096 / 60.0, float64(2500*gb) / (3 * DefaultThroughput), []string{}},
		{"peak rate needs servers", []*Profile{prof("a", gb, day...), prof("b", gb, 0)}, Options{},
			2, "peak rate", 1200 * gb, float64(200_000_000/BlockSize*BlockSize*60) / 86400, float64(200_000_000 / BlockSize * BlockSize), float64(2*gb) / (2 * DefaultThroughput),
			[]string{`machine "a" writes up to 200.0 MB/s, more than one process server moves (140 MB/s): its RPO grows during its peaks`}},
		{"bandwidth below sustained", []*Profile{prof("a", gb, 4096*100)}, Options{Bandwidth: 1000},
			1, "machines", 600 * gb, 4096 * 100 / 60.0, 4096 * 100 / 60.0, 1e6,
			[]string{"bandwidth 1 kB/s is below the sustained change rate 6.8 kB/s: replication never catches up"}},
		{"bandwidth below peak", []*Profile{prof("a", gb, 4096*100, 0, 0, 0)}, Options{Bandwidth: 5000},
			1, "machines", 600 * gb, 4096 * 100 / 240.0, 4096 * 100 / 60.0, 2e5,
			[]string{"bandwidth 5 kB/s is below the peak write rate 6.8 kB/s: the RPO grows during peaks and recovers after them"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compute(tc.profiles, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.ProcessServers != tc.servers || p.ProcessServersBy != tc.by || p.CacheTotal != tc.cache {
				t.Errorf("servers %d by %s cache %d, want %d by %s cache %d", p.ProcessServers, p.ProcessServersBy, p.CacheTotal, tc.servers, tc.by, tc.cache)
			}
			if !near(p.SustainedBandwidth, tc.sustained) || !near(p.RPOBandwidth, tc.rpo) || !near(p.InitialReplication, tc.initial) {
				t.Errorf("sustained %v rpo %v initial %v, want %v %v %v", p.SustainedBandwidth, p.RPOBandwidth, p.InitialReplication, tc.sustained, tc.rpo, tc.initial)
			}
			if strings.Join(p.Warnings, "\n") != strings.Join(tc.warnings, "\n") {
				t.Errorf("warnings %q, want %q", p.Warnings, tc.warnings)
			}
			if p.VCPUPerServer != 8 || p.MemoryPerServer != 16*gb || p.CachePerServer != 600*gb {
				t.Errorf("per server %d vCPU %d memory %d cache", p.VCPUPerServer, p.MemoryPerServer, p.CachePerServer)
			}
		})
	}
}

func near(a, b float64) bool {
	d := a - b
	return d < 1e-6*max(1, b) && -d < 1e-6*max(1, b)
}

func TestComputeErrors(t *testing.T) {
	for _, tc := range []struct {
		profiles []*Profile
		opts     Options
		want     string
	}{
		{nil, Options{}, "plan: no profiles"},
		{[]*Profile{prof("a", 0, 0)}, Options{Bandwidth: -1}, "plan: bandwidth -1, want 0 (unknown) or more"},
		{[]*Profile{prof("a", 0, 0)}, Options{Throughput: -2}, "plan: throughput -2, want 0 (default) or more"},
		{[]*Profile{prof("a", 0, 0), prof("a", 0, 0)}, Options{}, `plan: machine "a" has two profiles`},
	} {
		_, err := Compute(tc.profiles, tc.opts)
		if err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		b    float64
		want string
	}{{0, "0 B"}, {999, "999 B"}, {1000, "1 kB"}, {1500, "1.5 kB"}, {600e9, "600 GB"}, {1.25e12, "1.2 TB"}} {
		if got := FormatBytes(tc.b); got != tc.want {
			t.Errorf("FormatBytes(%v) = %q, want %q", tc.b, got, tc.want)
		}
	}
}
