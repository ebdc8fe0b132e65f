package retention

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestApplyInvariants checks the rules of the package on many random (but seeded, so
// reproducible) policies and point sets.
func TestApplyInvariants(t *testing.T) {
	const iterations = 3000
	rng := rand.New(rand.NewPCG(20261128, 1530))
	for i := range iterations {
		p := randomPolicy(rng)
		points := randomPoints(rng, p)
		d := Apply(p, now, points)
		if err := checkInvariants(p, points, d); err != nil {
			t.Fatalf("iteration %d, policy %+v, %d points: %v", i, p, len(points), err)
		}
		shuffled := slices.Clone(points)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if d2 := Apply(p, now, shuffled); !equalDecisions(d, d2) {
			t.Fatalf("iteration %d: decision depends on input order", i)
		}
	}
}

func randomPolicy(rng *rand.Rand) Policy {
	keepAll := []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour}[rng.IntN(4)]
	interval := []time.Duration{
		15 * time.Minute, time.Hour, 90 * time.Minute, 6 * time.Hour, 24 * time.Hour,
	}[rng.IntN(5)]
	window := keepAll + time.Duration(rng.Int64N(int64(7*24*time.Hour)))
	if rng.IntN(10) == 0 {
		window = keepAll
	}
	return Policy{KeepAll: keepAll, Window: window, Interval: interval}
}

func randomPoints(rng *rand.Rand, p Policy) []Point {
	var points []Point
	machines := rng.IntN(5) // sometimes no machine at all
	for m := range machines {
		machine := fmt.Sprintf("m%d", m)
		n := 1 + rng.IntN(60)
		for j := range n {
			// Mostly within twice the window, some in the future.
			ago := time.Duration(rng.Int64N(int64(2*p.Window))) - p.Window/20
			if rng.IntN(3) == 0 {
				ago = ago.Truncate(10 * time.Minute) // whole minutes give ties and boundary hits
			}
			points = append(points, Point{
				ID:            fmt.Sprintf("%s-p%03d", machine, rng.IntN(1000)*100+j), // unique, unordered
				Machine:       machine,
				Time:          now.Add(-ago),
				AppConsistent: rng.IntN(4) == 0,
			})
		}
	}
	return points
}

// checkInvariants verifies d against the rules, computed independently of Apply.
func checkInvariants(p Policy, points []Point, d Decision) error {
	// Keep and Forget partition the input.
	all := append(slices.Clone(d.Keep), d.Forget...)
	byID := func(a, b Point) int { return strings.Compare(a.ID, b.ID) }
	want := slices.Clone(points)
	slices.SortFunc(all, byID)
	slices.SortFunc(want, byID)
	if !slices.Equal(all, want) {
		return fmt.Errorf("keep ∪ forget (%d points) differs from the input (%d points)", len(all), len(want))
	}
	for _, list := range [][]Point{d.Keep, d.Forget} {
		if !slices.IsSortedFunc(list, func(a, b Point) int {
			if a.Machine != b.Machine {
				return strings.Compare(a.Machine, b.Machine)
			}
			if !a.Time.Equal(b.Time) {
				return a.Time.Compare(b.Time)
			}
			return strings.Compare(a.ID, b.ID)
		}) {
			return fmt.Errorf("output not sorted by machine, time, id")
		}
	}
	kept := map[string]bool{}
	for _, pt := range d.Keep {
		kept[pt.ID] = true
		if d.Reasons[pt.ID] == "" {
			return fmt.Errorf("kept point %s has no reason", pt.ID)
		}
	}
	if len(d.Reasons) != len(d.Keep) {
		return fmt.Errorf("%d reasons for %d kept points", len(d.Reasons), len(d.Keep))
	}

	keepAllFrom, windowFrom := now.Add(-p.KeepAll), now.Add(-p.Window)
	perMachine := map[string][]Point{}
	for _, pt := range points {
		perMachine[pt.Machine] = append(perMachine[pt.Machine], pt)
	}
	for machine, pts := range perMachine {
		newer := func(a, b Point) bool { // a is newer than b
			return a.Time.After(b.Time) || a.Time.Equal(b.Time) && a.ID > b.ID
		}
		var newest, newestApp *Point
		for i := range pts {
			if newest == nil || newer(pts[i], *newest) {
				newest = &pts[i]
			}
			if pts[i].AppConsistent && (newestApp == nil || newer(pts[i], *newestApp)) {
				newestApp = &pts[i]
			}
		}
		if !kept[newest.ID] {
			return fmt.Errorf("%s: newest point %s forgotten", machine, newest.ID)
		}
		if newestApp != nil && !kept[newestApp.ID] {
			return fmt.Errorf("%s: newest app-consistent point %s forgotten", machine, newestApp.ID)
		}
		always := func(pt Point) bool {
			return pt.ID == newest.ID || newestApp != nil && pt.ID == newestApp.ID
		}

		bucketNewest := map[int64]Point{} // bucket start (ns) -> newest point in the thinned range
		bucketKept := map[int64]int{}     // bucket start -> kept points that are not always-kept
		for _, pt := range pts {
			switch {
			case pt.Time.After(keepAllFrom): // includes the future
				if !kept[pt.ID] {
					return fmt.Errorf("%s: point %s at %v within keep-all forgotten", machine, pt.ID, pt.Time)
				}
			case pt.Time.Before(windowFrom):
				if kept[pt.ID] && !always(pt) {
					return fmt.Errorf("%s: point %s older than the window kept", machine, pt.ID)
				}
			default:
				b := pt.Time.Truncate(p.Interval).UnixNano()
				if cur, ok := bucketNewest[b]; !ok || newer(pt, cur) {
					bucketNewest[b] = pt
				}
				if kept[pt.ID] && !always(pt) {
					bucketKept[b]++
				}
			}
		}
		for b, n := range bucketKept {
			if n > 1 {
				return fmt.Errorf("%s: %d points kept in bucket %v", machine, n, time.Unix(0, b).UTC())
			}
		}
		for b, pt := range bucketNewest {
			if !kept[pt.ID] {
				return fmt.Errorf("%s: newest point %s of bucket %v forgotten", machine, pt.ID, time.Unix(0, b).UTC())
			}
		}
	}
	return nil
}
