package mobility

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

func TestSampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../../configs/mobility*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("sample configs: %v %v", files, err)
	}
	for _, f := range files {
		c, err := LoadConfig(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if c.FreezeTimeout != 10*time.Second || c.CrashConsistentInterval != 30*time.Second || c.AppConsistentInterval != time.Hour {
			t.Fatalf("%s: intervals %+v", f, c)
		}
	}
	c, err := LoadConfig("../../configs/mobility-minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("../../configs")
	if c.ProcessServer != "10.0.0.5:9443" || c.Tracker != "auto" || c.InitialPointSize != 256<<20 ||
		c.TLS.CA != filepath.Join(abs, "ca.pem") && c.TLS.CA != filepath.Join("../../configs", "ca.pem") {
		t.Fatalf("minimal defaults: %+v", c)
	}
	full, err := LoadConfig("../../configs/mobility.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Disks) != 2 || full.Bandwidth.Windows[0].Rate != 20e6 || full.Bandwidth.Default != 0 {
		t.Fatalf("full: %+v", full)
	}
}

const base = `machine: m1
process_server: ps:9443
tls: {ca: a, cert: b, key: c}
state_dir: /s
disks: [{name: sda, path: /dev/sda}]
`

func TestConfigErrors(t *testing.T) {
	tests := []struct{ extra, err string }{
		{"bogus: 1\n", "yaml: unmarshal errors:\n  line 6: field bogus not found in type mobility.Config"},
		{"tracker: inotify\n", `tracker: "inotify" is not scan, ebpf or auto`},
		{"freeze_timeout: 10m\n", "freeze_timeout: 10m0s is not between 100ms and 5m"},
		{"crash_consistent_interval: 10ms\n", "crash_consistent_interval: 10ms is below 1s"},
		{"app_consistent_interval: 10s\n", "app_consistent_interval: 10s is below crash_consistent_interval 30s"},
		{"initial_point_size: 1MiB\n", "initial_point_size: 1048576 is not a multiple of 4 KiB of at least 4 MiB"},
		{"initial_point_size: lots\n", `line 6: bad size "lots" (want a number with an optional unit: KiB, MiB, GiB, KB, MB, GB)`},
		{"bandwidth: {default: fast}\n", `line 6: bad rate "fast" (want unlimited, or a size per second such as 10MB/s or 100Mbit/s)`},
		{"bandwidth: {windows: [{days: [mon, xyz], from: '08:00', to: '18:00', rate: 1MB/s}]}\n", `bandwidth.windows[0]: unknown day "xyz" (want mon, tue, wed, thu, fri, sat or sun)`},
		{"bandwidth: {windows: [{from: '8:00', to: '18:00', rate: 1MB/s}]}\n", `bandwidth.windows[0].from: bad time of day "8:00" (want HH:MM)`},
		{"bandwidth: {time_zone: Mars/Olympus}\n", "bandwidth.time_zone: unknown time zone Mars/Olympus"},
		{"log_level: loud\n", `log_level: "loud" is not debug, info, warn or error`},
		{"disks: [{name: sda, path: /a}, {name: sda, path: /b}]\n", "yaml: unmarshal errors:\n  line 6: mapping key \"disks\" already defined at line 5"},
	}
	for _, tt := range tests {
		_, err := ParseConfig([]byte(base+tt.extra), "/etc")
		if err == nil || err.Error() != tt.err {
			t.Errorf("%q: error %v, want %q", tt.extra, err, tt.err)
		}
	}
	for _, tt := range []struct{ in, err string }{
		{"", "empty configuration"},
		{strings.Replace(base, "m1", "bad name", 1), `machine: name "bad name" has a character outside [A-Za-z0-9._:@-]`},
		{strings.Replace(base, "process_server: ps:9443\n", "", 1), "process_server: missing (host:port of the process server)"},
		{strings.Replace(base, "tls: {ca: a, cert: b, key: c}", "tls: {ca: a}", 1), "tls: ca, cert and key are all required (osr pki issue --role agent --name MACHINE)"},
		{strings.Replace(base, "disks: [{name: sda, path: /dev/sda}]", "disks: [{name: sda, path: /a}, {name: sda, path: /b}]", 1), "disks[1]: disk sda named twice"},
		{strings.Replace(base, "disks: [{name: sda, path: /dev/sda}]", "disks: []", 1), "disks: at least one disk is required"},
		{strings.Replace(base, "disks: [{name: sda, path: /dev/sda}]", "disks: [{name: sda}]", 1), "disks[0]: disk sda has no path"},
	} {
		_, err := ParseConfig([]byte(tt.in), "/etc")
		if err == nil || err.Error() != tt.err {
			t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
		}
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "none.yaml")); !os.IsNotExist(err) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestParseRate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Rate
	}{
		{"unlimited", 0}, {"0", 0}, {"10MB/s", 10e6}, {"1MiB/s", 1 << 20}, {"100Mbit/s", 12.5e6}, {"512KiB/s", 512 << 10},
	} {
		got, err := ParseRate(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("%s: %v %v, want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "10MB", "-1MB/s", "xbit/s", "0MB/s"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestBandwidthSchedule(t *testing.T) {
	c, err := ParseConfig([]byte(base+`bandwidth:
  default: 50MB/s
  time_zone: UTC
  windows:
    - {days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00", rate: 10MB/s}
    - {days: [sat], from: "22:00", to: "06:00", rate: unlimited}
`), "/etc")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		tm, err := time.Parse("Mon 2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		when string
		want Rate
	}{
		{"Mon 2026-06-01 07:59", 50e6},
		{"Mon 2026-06-01 08:00", 10e6},
		{"Fri 2026-06-05 17:59", 10e6},
		{"Fri 2026-06-05 18:00", 50e6},
		{"Sat 2026-06-06 12:00", 50e6},
		{"Sat 2026-06-06 23:00", 0},
		{"Sun 2026-06-07 05:59", 0}, // Saturday's window past midnight
		{"Sun 2026-06-07 06:00", 50e6},
		{"Sun 2026-06-07 23:00", 50e6},
	}
	for _, tt := range tests {
		if got := c.Bandwidth.RateAt(at(tt.when)); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.when, got, tt.want)
		}
	}
	// The limiter follows the fake clock.
	clk := clock.NewFake(at("Mon 2026-06-01 07:00"))
	l := NewLimiter(&c.Bandwidth, clk)
	if l.Current() != 50e6 {
		t.Fatalf("limiter at 07:00: %v", l.Current())
	}
	clk.Set(at("Mon 2026-06-01 09:00"))
	if l.Current() != 10e6 || l.lim.Limit() != 10e6 {
		t.Fatalf("limiter at 09:00: %v %v", l.Current(), l.lim.Limit())
	}
	clk.Set(at("Sat 2026-06-06 23:30"))
	if l.Current() != 0 {
		t.Fatalf("limiter at Saturday night: %v", l.Current())
	}
}

// The cap holds: 3 MiB at 2 MiB/s with a 1 MiB+ burst takes about a second.
func TestLimiterRate(t *testing.T) {
	b := &Bandwidth{Default: 2 << 20}
	if err := b.check(); err != nil {
		t.Fatal(err)
	}
	l := NewLimiter(b, clock.Real{})
	start := time.Now()
	for range 3 {
		if err := l.Wait(t.Context(), 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 800*time.Millisecond || d > 3*time.Second {
		t.Fatalf("3 MiB at 2 MiB/s took %v", d)
	}
}
