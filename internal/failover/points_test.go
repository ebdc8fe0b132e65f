package failover

import (
	"context"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/vault/db"
)

// TestResolvePoint: every kind of reference against web01's points (crash 09:00, app 10:00,
// crash 11:00, partial 11:30).
func TestResolvePoint(t *testing.T) {
	e := newEnv(t, db.SQLite)
	p := e.pointIDs()
	all, _ := e.repo.Points(context.Background(), "web01")
	partial := all[len(all)-1].ID
	if !all[len(all)-1].Partial {
		t.Fatal("the newest point is not the partial one")
	}
	cases := []struct {
		ref, want, err string
	}{
		{"latest-processed", p[2], ""},
		{"latest", p[2], ""},
		{"latest-app-consistent", p[1], ""},
		{p[0], p[0], ""},
		{p[1][:8], p[1], ""},
		{"2026-12-01T10:30:00Z", p[1], ""},
		{"2026-12-01T10:00:00Z", p[1], ""}, // at: included
		{"2026-12-01T11:59:00+01:00", p[1], ""},
		{"2026-12-01T11:45:00Z", p[2], ""}, // the partial point at 11:30 does not qualify
		{"2026-12-01T08:59:59Z", "", "machine web01 has no recovery point at or before 2026-12-01T08:59:59Z"},
		{partial, "", "machine web01 has no recovery point " + partial},
		{"ffffffffff", "", "machine web01 has no recovery point ffffffffff"},
		{"LATEST", "", `point "LATEST" is not latest, latest-processed, latest-app-consistent, a point ID (at least 8 hex digits) or an RFC 3339 time`},
		{"", "", `point "" is not latest, latest-processed, latest-app-consistent, a point ID (at least 8 hex digits) or an RFC 3339 time`},
		{"2026-12-01 10:00", "", `point "2026-12-01 10:00" is not latest, latest-processed, latest-app-consistent, a point ID (at least 8 hex digits) or an RFC 3339 time`},
	}
	for _, c := range cases {
		pt, err := resolvePoint(context.Background(), e.repo, "web01", c.ref)
		switch {
		case c.err != "":
			if err == nil || err.Error() != c.err {
				t.Errorf("%q: error %v, want %q", c.ref, err, c.err)
			}
		case err != nil:
			t.Errorf("%q: %v", c.ref, err)
		case pt.ID != c.want:
			t.Errorf("%q: point %s, want %s", c.ref, pt.ID, c.want)
		}
	}
	if _, err := resolvePoint(context.Background(), e.repo, "db02", "latest-processed"); err == nil || err.Error() != "machine db02 has no recovery point" {
		t.Fatalf("no points: %v", err)
	}
	if _, err := resolvePoint(context.Background(), e.repo, "web01", "latest-app-consistent"); err != nil {
		t.Fatal(err)
	}
	// A machine without app-consistent points.
	e.commitPoint("db02", "crash", e.clk.Now().Add(-time.Minute), "only")
	if _, err := resolvePoint(context.Background(), e.repo, "db02", "latest-app-consistent"); err == nil || err.Error() != "machine db02 has no app-consistent recovery point" {
		t.Fatalf("no app point: %v", err)
	}
}
