package retention

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Point is one recovery point of a machine.
type Point struct {
	ID            string
	Machine       string
	Time          time.Time
	AppConsistent bool
	Partial       bool // a chunk of an initial replication: kept only while it is the newest point
}

// Decision is the outcome of Apply. Keep and Forget together hold every input point exactly once,
// each sorted by machine, then time, then ID. Reasons maps the ID of every kept point to why it
// was kept; several reasons are joined with "; ".
type Decision struct {
	Keep, Forget []Point
	Reasons      map[string]string
}

// Reasons given for kept points; the bucket reason is built by bucketReason.
const (
	reasonFuture        = "in the future (clock skew)"
	reasonNewestApp     = "newest app-consistent"
	reasonNewest        = "newest point"
	reasonSeeding       = "initial replication in progress"
	reasonInvalidPrefix = "policy not applied: "
)

// Apply decides which points to keep under policy p at time now. Its input is not modified.
//
// If p is invalid (see Policy.Validate) nothing is forgotten: every point is kept, with the
// validation error as its reason. Callers should validate policies when they are configured.
func Apply(p Policy, now time.Time, points []Point) Decision {
	sorted := slices.Clone(points)
	slices.SortFunc(sorted, comparePoints)
	d := Decision{Keep: []Point{}, Forget: []Point{}, Reasons: map[string]string{}}

	if err := p.Validate(); err != nil {
		d.Keep = sorted
		for _, pt := range sorted {
			d.Reasons[pt.ID] = reasonInvalidPrefix + err.Error()
		}
		return d
	}
	p = p.withDefaults()

	for start := 0; start < len(sorted); {
		end := start + 1
		for end < len(sorted) && sorted[end].Machine == sorted[start].Machine {
			end++
		}
		applyMachine(p, now, sorted[start:end], &d)
		start = end
	}
	return d
}

// applyMachine decides for the points of one machine, sorted oldest first, and appends the result
// to d in that order.
func applyMachine(p Policy, now time.Time, pts []Point, d *Decision) {
	reasons := make([][]string, len(pts))
	keepAllFrom := now.Add(-p.KeepAll) // points after this are all kept
	windowFrom := now.Add(-p.Window)   // points before this are forgotten

	// Walk newest first so the first point seen in a bucket is its newest.
	type bucketKey struct {
		sec  int64
		nsec int
	}
	seenBucket := map[bucketKey]bool{}
	newestApp, newest := -1, -1
	for i := len(pts) - 1; i >= 0; i-- {
		if pts[i].Partial {
			continue // only the rule below keeps a partial point
		}
		if newest < 0 {
			newest = i
		}
		t := pts[i].Time
		switch {
		case t.After(now):
			reasons[i] = append(reasons[i], reasonFuture)
		case t.After(keepAllFrom):
			reasons[i] = append(reasons[i], "within last "+formatDuration(p.KeepAll))
		case !t.Before(windowFrom):
			b := t.Truncate(p.Interval)
			if k := (bucketKey{b.Unix(), b.Nanosecond()}); !seenBucket[k] {
				seenBucket[k] = true
				reasons[i] = append(reasons[i], bucketReason(p.Interval, b))
			}
		}
		if newestApp < 0 && pts[i].AppConsistent {
			newestApp = i
		}
	}
	if newestApp >= 0 {
		reasons[newestApp] = append(reasons[newestApp], reasonNewestApp)
	}
	if newest >= 0 {
		reasons[newest] = append(reasons[newest], reasonNewest)
	}
	// The newest partial point is the resume point of an initial replication in progress, as long
	// as no complete point is newer.
	if last := len(pts) - 1; pts[last].Partial {
		reasons[last] = append(reasons[last], reasonSeeding)
	}

	for i, pt := range pts {
		if len(reasons[i]) == 0 {
			d.Forget = append(d.Forget, pt)
			continue
		}
		d.Keep = append(d.Keep, pt)
		d.Reasons[pt.ID] = strings.Join(reasons[i], "; ")
	}
}

// comparePoints orders points by machine, then time, then ID.
func comparePoints(a, b Point) int {
	return cmp.Or(
		strings.Compare(a.Machine, b.Machine),
		a.Time.Compare(b.Time),
		strings.Compare(a.ID, b.ID),
	)
}
