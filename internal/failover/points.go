package failover

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/store"
)

// Point references a user may give (besides a point ID, a unique ID prefix, or an RFC 3339 time).
const (
	// PointLatest is everything received: the process server commits what it holds first
	// (SourceControl.LatestReceived). Lowest RPO.
	PointLatest = "latest"
	// PointLatestProcessed is the newest committed point. Lowest RTO.
	PointLatestProcessed = "latest-processed"
	// PointLatestApp is the newest app-consistent point.
	PointLatestApp = "latest-app-consistent"
)

// checkPointRef validates a reference's syntax (nothing is looked up).
func checkPointRef(ref string) error {
	switch ref {
	case PointLatest, PointLatestProcessed, PointLatestApp:
		return nil
	}
	if _, err := time.Parse(time.RFC3339Nano, ref); err == nil {
		return nil
	}
	if len(ref) >= 8 && len(ref) <= 64 && strings.Trim(ref, "0123456789abcdef") == "" {
		return nil
	}
	return badRequest("point %q is not latest, latest-processed, latest-app-consistent, a point ID (at least 8 hex digits) or an RFC 3339 time", ref)
}

// resolvePoint finds the point ref names among a machine's complete points (partial points of
// an initial replication never qualify). "latest" is resolved by the caller through
// SourceControl first and comes here as an ID.
func resolvePoint(ctx context.Context, repo *store.Repo, machine, ref string) (*store.Point, error) {
	if err := checkPointRef(ref); err != nil {
		return nil, err
	}
	all, err := repo.Points(ctx, machine)
	if err != nil {
		return nil, fmt.Errorf("list the recovery points of %s: %w", machine, err)
	}
	var pts []*store.Point // complete points, oldest first
	for _, p := range all {
		if !p.Partial {
			pts = append(pts, p)
		}
	}
	if len(pts) == 0 {
		return nil, notFound("machine %s has no recovery point", machine)
	}
	switch ref {
	case PointLatest, PointLatestProcessed:
		return pts[len(pts)-1], nil
	case PointLatestApp:
		for i := len(pts) - 1; i >= 0; i-- {
			if pts[i].Consistency == store.AppConsistent {
				return pts[i], nil
			}
		}
		return nil, notFound("machine %s has no app-consistent recovery point", machine)
	}
	if t, err := time.Parse(time.RFC3339Nano, ref); err == nil {
		for i := len(pts) - 1; i >= 0; i-- {
			if !pts[i].Time.After(t) {
				return pts[i], nil
			}
		}
		return nil, notFound("machine %s has no recovery point at or before %s", machine, t.UTC().Format(time.RFC3339Nano))
	}
	var found *store.Point
	n := 0
	for _, p := range pts {
		if strings.HasPrefix(p.ID, ref) {
			found = p
			n++
		}
	}
	switch n {
	case 0:
		return nil, notFound("machine %s has no recovery point %s", machine, ref)
	case 1:
		return found, nil
	}
	return nil, badRequest("point %s is ambiguous: %d recovery points of machine %s start with it", ref, n, machine)
}

// loadPoint loads a point by its full ID (from SourceControl) and checks it is a complete point
// of the machine.
func loadPoint(ctx context.Context, repo *store.Repo, machine, id string) (*store.Point, error) {
	p, err := repo.LoadPoint(ctx, id)
	if errors.Is(err, store.ErrNoPoint) {
		return nil, fmt.Errorf("recovery point %s given by the source side does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	if p.Machine != machine {
		return nil, fmt.Errorf("recovery point %s given by the source side is of machine %s, not %s", id, p.Machine, machine)
	}
	if p.Partial {
		return nil, fmt.Errorf("recovery point %s given by the source side is a partial point of an initial replication", id)
	}
	return p, nil
}
