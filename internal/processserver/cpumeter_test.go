package processserver

import (
	"testing"
	"time"
)

// The CPU figure is a share of all CPUs between 0 and 100, measured over at least a second: two
// calls a few ms apart (10 ms ticks of CPU time) used to read as 1464 %, which the vault refuses.
func TestCPUMeter(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	c := &cpuMeter{cpus: 2}
	steps := []struct {
		at   time.Duration
		used time.Duration
		want float64
	}{
		{0, 0, 0}, // the first call sets the baseline
		{2 * time.Millisecond, 30 * time.Millisecond, 0}, // too soon: the previous figure
		{2 * time.Second, time.Second, 25},               // 1 s of CPU in 2 s on 2 CPUs
		{2*time.Second + 5*time.Millisecond, 2 * time.Second, 25},
		{3 * time.Second, 5 * time.Second, 100}, // more than the machine has (ticks): at most 100
		{4 * time.Second, 5 * time.Second, 0},
	}
	for i, s := range steps {
		if got := c.measure(t0.Add(s.at), s.used); got != s.want {
			t.Fatalf("step %d (at %v, used %v): %v %%, want %v %%", i, s.at, s.used, got, s.want)
		}
	}
}
