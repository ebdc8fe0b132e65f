package configserver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

// The vault hears early of a changed item report: a first report, another state, a new point,
// an error, a step of 10 % of initial replication; not of the same report again.
func TestRegistryReportsChanges(t *testing.T) {
	r, err := OpenRegistry(filepath.Join(t.TempDir(), StateFile), clock.NewFake(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		hb   AgentHeartbeat
		want bool
	}{
		{"first report", AgentHeartbeat{State: "initial-replication", InitialPercent: 1}, true},
		{"same step of progress", AgentHeartbeat{State: "initial-replication", InitialPercent: 9}, false},
		{"next step of progress", AgentHeartbeat{State: "initial-replication", InitialPercent: 12}, true},
		{"protected with a point", AgentHeartbeat{State: "protected", InitialPercent: 100, LastPointID: "p1"}, true},
		{"same again", AgentHeartbeat{State: "protected", InitialPercent: 100, LastPointID: "p1"}, false},
		{"new point", AgentHeartbeat{State: "protected", InitialPercent: 100, LastPointID: "p2"}, true},
		{"an error", AgentHeartbeat{State: "protected", InitialPercent: 100, LastPointID: "p2", Error: "dial: refused"}, true},
	}
	for _, s := range steps {
		r.BeatAgent("web01", s.hb)
		got := false
		select {
		case <-r.Reports():
			got = true
		default:
		}
		if got != s.want {
			t.Errorf("%s: reported %v, want %v", s.name, got, s.want)
		}
	}
}
