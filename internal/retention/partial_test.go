package retention

import (
	"slices"
	"testing"
	"time"
)

func TestApplyPartialPoints(t *testing.T) {
	p := DefaultPolicy(24 * time.Hour)
	partial := func(id string, ago time.Duration) Point {
		pt := pt(id, "web01", ago, false)
		pt.Partial = true
		return pt
	}
	for _, tc := range []struct {
		name       string
		in         []Point
		keep       []string
		newestWhy  string
		newestWhat string
	}{
		{
			name: "seeding: only the newest partial point stays",
			in:   []Point{partial("p1", 30*time.Minute), partial("p2", 20*time.Minute), partial("p3", 10*time.Minute)},
			keep: []string{"p3"}, newestWhat: "p3", newestWhy: reasonSeeding,
		},
		{
			name: "seeded: partial points go once a complete point is newer",
			in:   []Point{partial("p1", 30*time.Minute), partial("p2", 20*time.Minute), pt("c1", "web01", 10*time.Minute, false)},
			keep: []string{"c1"}, newestWhat: "c1", newestWhy: "within last 2h; " + reasonNewest,
		},
		{
			name: "a partial point is not the newest recovery point",
			in:   []Point{pt("c1", "web01", 30*time.Hour, false), partial("p1", 10*time.Minute)},
			keep: []string{"c1", "p1"}, newestWhat: "c1", newestWhy: reasonNewest,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Apply(p, now, tc.in)
			if got := ids(d.Keep); !slices.Equal(got, tc.keep) {
				t.Fatalf("keep %v, want %v (reasons %v)", got, tc.keep, d.Reasons)
			}
			if got := d.Reasons[tc.newestWhat]; got != tc.newestWhy {
				t.Fatalf("reason for %s: %q, want %q", tc.newestWhat, got, tc.newestWhy)
			}
		})
	}
}
