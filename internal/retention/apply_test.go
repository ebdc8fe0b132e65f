package retention

import (
	"maps"
	"slices"
	"testing"
	"time"
)

// now is the fixed evaluation time of the table tests: 2026-11-28 15:30 UTC, so with the default
// policy the keep-all period starts at 13:30 and a 24h window at 2026-11-27 15:30.
var now = time.Date(2026, 11, 28, 15, 30, 0, 0, time.UTC)

// pt builds a point taken ago before now.
func pt(id, machine string, ago time.Duration, app bool) Point {
	return Point{ID: id, Machine: machine, Time: now.Add(-ago), AppConsistent: app}
}

// ptAt builds a point taken at t.
func ptAt(id, machine string, t time.Time, app bool) Point {
	return Point{ID: id, Machine: machine, Time: t, AppConsistent: app}
}

func ids(points []Point) []string {
	out := []string{}
	for _, p := range points {
		out = append(out, p.ID)
	}
	return out
}

func TestApply(t *testing.T) {
	const (
		h = time.Hour
		m = time.Minute
	)
	day := func(d, hh, mm int) time.Time { return time.Date(2026, 11, d, hh, mm, 0, 0, time.UTC) }
	ist := time.FixedZone("IST", 5*3600+1800)
	def := DefaultPolicy(24 * h)

	tests := []struct {
		name        string
		policy      Policy
		points      []Point
		wantKeep    []string
		wantForget  []string
		wantReasons map[string]string
	}{
		{
			name:        "nil input",
			policy:      def,
			wantKeep:    []string{},
			wantForget:  []string{},
			wantReasons: map[string]string{},
		},
		{
			name:        "empty input",
			policy:      def,
			points:      []Point{},
			wantKeep:    []string{},
			wantForget:  []string{},
			wantReasons: map[string]string{},
		},
		{
			name:   "everything within keep-all is kept",
			policy: def,
			points: []Point{
				pt("a", "m1", 10*m, false),
				pt("b", "m1", h, false),
				pt("c", "m1", 2*h-time.Second, false),
			},
			wantKeep:   []string{"c", "b", "a"},
			wantForget: []string{},
			wantReasons: map[string]string{
				"a": "within last 2h; newest point",
				"b": "within last 2h",
				"c": "within last 2h",
			},
		},
		{
			name:     "point exactly at now is within keep-all",
			policy:   def,
			points:   []Point{pt("a", "m1", 0, false)},
			wantKeep: []string{"a"}, wantForget: []string{},
			wantReasons: map[string]string{"a": "within last 2h; newest point"},
		},
		{
			name:   "keep-all boundary is exclusive",
			policy: def,
			points: []Point{
				pt("edge", "m1", 2*h, false),       // 13:30, thinned
				pt("early", "m1", 2*h+20*m, false), // 13:10, same hour, older
				pt("inside", "m1", 2*h-1, false),   // 1ns after 13:30
			},
			wantKeep:   []string{"edge", "inside"},
			wantForget: []string{"early"},
			wantReasons: map[string]string{
				"edge":   "newest in hour 2026-11-28T13:00Z",
				"inside": "within last 2h; newest point",
			},
		},
		{
			name:   "newest point of each hour is kept between keep-all and window",
			policy: def,
			points: []Point{
				ptAt("12:05", "m1", day(28, 12, 5), false),
				ptAt("12:55", "m1", day(28, 12, 55), false),
				ptAt("11:00", "m1", day(28, 11, 0), false),
				ptAt("11:59:59", "m1", day(28, 11, 59).Add(59*time.Second), false),
				ptAt("10:30", "m1", day(28, 10, 30), false),
				ptAt("15:00", "m1", day(28, 15, 0), false),
			},
			wantKeep:   []string{"10:30", "11:59:59", "12:55", "15:00"},
			wantForget: []string{"11:00", "12:05"},
			wantReasons: map[string]string{
				"10:30":    "newest in hour 2026-11-28T10:00Z",
				"11:59:59": "newest in hour 2026-11-28T11:00Z",
				"12:55":    "newest in hour 2026-11-28T12:00Z",
				"15:00":    "within last 2h; newest point",
			},
		},
		{
			name:   "window boundary is inclusive and older points are forgotten",
			policy: def,
			points: []Point{
				pt("edge", "m1", 24*h, false),      // 2026-11-27 15:30
				pt("outside", "m1", 24*h+1, false), // 1ns before, same hour bucket
				pt("older", "m1", 25*h, false),     // 2026-11-27 14:30, bucket wholly outside
				pt("new", "m1", 5*m, false),
			},
			wantKeep:   []string{"edge", "new"},
			wantForget: []string{"older", "outside"},
			wantReasons: map[string]string{
				"edge": "newest in hour 2026-11-27T15:00Z",
				"new":  "within last 2h; newest point",
			},
		},
		{
			name:   "newest app-consistent point is kept beyond the window",
			policy: def,
			points: []Point{
				pt("app-40h", "m1", 40*h, true),
				pt("app-30h", "m1", 30*h, true),
				pt("crash-26h", "m1", 26*h, false),
				pt("crash-10m", "m1", 10*m, false),
			},
			wantKeep:   []string{"app-30h", "crash-10m"},
			wantForget: []string{"app-40h", "crash-26h"},
			wantReasons: map[string]string{
				"app-30h":   "newest app-consistent",
				"crash-10m": "within last 2h; newest point",
			},
		},
		{
			name:   "newest app-consistent point is kept even when not newest in its hour",
			policy: def,
			points: []Point{
				ptAt("app-11:10", "m1", day(28, 11, 10), true),
				ptAt("app-11:30", "m1", day(28, 11, 30), true),
				ptAt("app-12:10", "m1", day(28, 12, 10), true),
				ptAt("crash-12:50", "m1", day(28, 12, 50), false),
				ptAt("crash-14:00", "m1", day(28, 14, 0), false),
			},
			wantKeep:   []string{"app-11:30", "app-12:10", "crash-12:50", "crash-14:00"},
			wantForget: []string{"app-11:10"},
			wantReasons: map[string]string{
				"app-11:30":   "newest in hour 2026-11-28T11:00Z",
				"app-12:10":   "newest app-consistent",
				"crash-12:50": "newest in hour 2026-11-28T12:00Z",
				"crash-14:00": "within last 2h; newest point",
			},
		},
		{
			name:     "all reasons of a point are given",
			policy:   def,
			points:   []Point{pt("a", "m1", 3*h, false), pt("b", "m1", time.Minute, true)},
			wantKeep: []string{"a", "b"}, wantForget: []string{},
			wantReasons: map[string]string{
				"a": "newest in hour 2026-11-28T12:00Z",
				"b": "within last 2h; newest app-consistent; newest point",
			},
		},
		{
			name:   "machine with only old points keeps its newest point",
			policy: def,
			points: []Point{
				pt("o1", "m1", 50*h, false),
				pt("o2", "m1", 48*h, false),
				pt("a1", "m2", 50*h, false),
				pt("a2", "m2", 49*h, true),
			},
			wantKeep:   []string{"o2", "a2"},
			wantForget: []string{"o1", "a1"},
			wantReasons: map[string]string{
				"o2": "newest point",
				"a2": "newest app-consistent; newest point",
			},
		},
		{
			name:   "points in the future are kept",
			policy: def,
			points: []Point{
				pt("f2", "m1", -h, false),
				pt("f1", "m1", -5*m, true),
				pt("recent", "m1", 30*m, false),
				pt("old", "m1", 30*h, false),
			},
			wantKeep:   []string{"recent", "f1", "f2"},
			wantForget: []string{"old"},
			wantReasons: map[string]string{
				"recent": "within last 2h",
				"f1":     "in the future (clock skew); newest app-consistent",
				"f2":     "in the future (clock skew); newest point",
			},
		},
		{
			name:   "machines are thinned independently and sorted by name",
			policy: def,
			points: []Point{
				pt("e", "m3", 30*h, false),
				ptAt("c", "m2", day(28, 12, 20), false),
				ptAt("b", "m1", day(28, 12, 40), false),
				ptAt("d", "m2", day(28, 12, 30), false),
				ptAt("a", "m1", day(28, 12, 10), false),
			},
			wantKeep:   []string{"b", "d", "e"},
			wantForget: []string{"a", "c"},
			wantReasons: map[string]string{
				"b": "newest in hour 2026-11-28T12:00Z; newest point",
				"d": "newest in hour 2026-11-28T12:00Z; newest point",
				"e": "newest point",
			},
		},
		{
			name:   "ties in time are broken by ID",
			policy: def,
			points: []Point{
				pt("t-b", "m1", 3*h, false),
				pt("t-a", "m1", 3*h, false),
				pt("k-b", "m1", h, false),
				pt("k-a", "m1", h, false),
				pt("n-a", "m2", 30*h, true),
				pt("n-c", "m2", 30*h, false),
				pt("n-b", "m2", 30*h, true),
			},
			wantKeep:   []string{"t-b", "k-a", "k-b", "n-b", "n-c"},
			wantForget: []string{"t-a", "n-a"},
			wantReasons: map[string]string{
				"t-b": "newest in hour 2026-11-28T12:00Z",
				"k-a": "within last 2h",
				"k-b": "within last 2h; newest point",
				"n-b": "newest app-consistent",
				"n-c": "newest point",
			},
		},
		{
			name:   "30 minute interval",
			policy: Policy{KeepAll: h, Window: 6 * h, Interval: 30 * m},
			points: []Point{
				ptAt("13:20", "m1", day(28, 13, 20), false),
				ptAt("13:40", "m1", day(28, 13, 40), false),
				ptAt("13:50", "m1", day(28, 13, 50), false),
				ptAt("14:45", "m1", day(28, 14, 45), false),
				ptAt("09:29", "m1", day(28, 9, 29), false),
			},
			wantKeep:   []string{"13:20", "13:50", "14:45"},
			wantForget: []string{"09:29", "13:40"},
			wantReasons: map[string]string{
				"13:20": "newest in 30m bucket 2026-11-28T13:00Z",
				"13:50": "newest in 30m bucket 2026-11-28T13:30Z",
				"14:45": "within last 1h; newest point",
			},
		},
		{
			name:   "daily interval",
			policy: Policy{KeepAll: 2 * h, Window: 7 * 24 * h, Interval: 24 * h},
			points: []Point{
				ptAt("20th", "m1", day(20, 12, 0), false),
				ptAt("26th-23:59", "m1", day(26, 23, 59), false),
				ptAt("27th-08:00", "m1", day(27, 8, 0), false),
				ptAt("27th-20:00", "m1", day(27, 20, 0), false),
				ptAt("28th-10:00", "m1", day(28, 10, 0), false),
				ptAt("28th-15:00", "m1", day(28, 15, 0), false),
			},
			wantKeep:   []string{"26th-23:59", "27th-20:00", "28th-10:00", "28th-15:00"},
			wantForget: []string{"20th", "27th-08:00"},
			wantReasons: map[string]string{
				"26th-23:59": "newest in day 2026-11-26",
				"27th-20:00": "newest in day 2026-11-27",
				"28th-10:00": "newest in day 2026-11-28",
				"28th-15:00": "within last 2h; newest point",
			},
		},
		{
			name:   "buckets are whole UTC hours whatever the zone of the times",
			policy: def,
			points: []Point{
				ptAt("18:20IST", "m1", time.Date(2026, 11, 28, 18, 20, 0, 0, ist), false), // 12:50Z
				ptAt("18:35IST", "m1", time.Date(2026, 11, 28, 18, 35, 0, 0, ist), false), // 13:05Z
				ptAt("18:40IST", "m1", time.Date(2026, 11, 28, 18, 40, 0, 0, ist), false), // 13:10Z
				ptAt("20:00IST", "m1", time.Date(2026, 11, 28, 20, 0, 0, 0, ist), false),  // 14:30Z
			},
			wantKeep:   []string{"18:20IST", "18:40IST", "20:00IST"},
			wantForget: []string{"18:35IST"},
			wantReasons: map[string]string{
				"18:20IST": "newest in hour 2026-11-28T12:00Z",
				"18:40IST": "newest in hour 2026-11-28T13:00Z",
				"20:00IST": "within last 2h; newest point",
			},
		},
		{
			name:   "zero keep-all and interval take the defaults",
			policy: Policy{Window: 24 * h},
			points: []Point{
				pt("1h50m", "m1", h+50*m, false),
				pt("3h10m", "m1", 3*h+10*m, false), // 12:20
				pt("3h20m", "m1", 3*h+20*m, false), // 12:10
			},
			wantKeep:   []string{"3h10m", "1h50m"},
			wantForget: []string{"3h20m"},
			wantReasons: map[string]string{
				"3h10m": "newest in hour 2026-11-28T12:00Z",
				"1h50m": "within last 2h; newest point",
			},
		},
		{
			name:   "window equal to keep-all thins only the boundary instant",
			policy: Policy{KeepAll: 2 * h, Window: 2 * h, Interval: h},
			points: []Point{
				pt("edge", "m1", 2*h, false),
				pt("before", "m1", 2*h+m, false),
				pt("recent", "m1", h, false),
			},
			wantKeep:   []string{"edge", "recent"},
			wantForget: []string{"before"},
			wantReasons: map[string]string{
				"edge":   "newest in hour 2026-11-28T13:00Z",
				"recent": "within last 2h; newest point",
			},
		},
		{
			name:       "invalid policy forgets nothing",
			policy:     Policy{KeepAll: 2 * h, Window: h, Interval: h},
			points:     []Point{pt("new", "m1", m, false), pt("old", "m1", 100*h, false)},
			wantKeep:   []string{"old", "new"},
			wantForget: []string{},
			wantReasons: map[string]string{
				"old": "policy not applied: retention: window 1h0m0s is shorter than the keep-all period 2h0m0s",
				"new": "policy not applied: retention: window 1h0m0s is shorter than the keep-all period 2h0m0s",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := slices.Clone(tt.points)
			d := Apply(tt.policy, now, tt.points)
			if got := ids(d.Keep); !slices.Equal(got, tt.wantKeep) {
				t.Errorf("Keep = %q, want %q", got, tt.wantKeep)
			}
			if got := ids(d.Forget); !slices.Equal(got, tt.wantForget) {
				t.Errorf("Forget = %q, want %q", got, tt.wantForget)
			}
			if !maps.Equal(d.Reasons, tt.wantReasons) {
				t.Errorf("Reasons = %q, want %q", d.Reasons, tt.wantReasons)
			}
			if !slices.Equal(tt.points, input) {
				t.Errorf("Apply modified its input: %v, was %v", tt.points, input)
			}
			// The decision does not depend on the input order.
			rev := slices.Clone(tt.points)
			slices.Reverse(rev)
			if d2 := Apply(tt.policy, now, rev); !equalDecisions(d, d2) {
				t.Errorf("decision depends on input order:\n%+v\n%+v", d, d2)
			}
		})
	}
}

func equalDecisions(a, b Decision) bool {
	return slices.Equal(a.Keep, b.Keep) && slices.Equal(a.Forget, b.Forget) && maps.Equal(a.Reasons, b.Reasons)
}
