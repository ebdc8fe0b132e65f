package configserver

import (
	"strings"
	"testing"
	"time"
)

// tick advances the clock by d in steps of a second, with healthy heartbeats of the named
// process servers every step, and returns every move and note of the ticks.
func (g *scaleRig) tick(d time.Duration, alive ...string) ([]Move, []string) {
	g.t.Helper()
	var moves []Move
	var notes []string
	for range int(d / time.Second) {
		g.c.Advance(time.Second)
		for _, p := range alive {
			g.beat(p, nil)
		}
		m, n := g.r.ScaleOutTick()
		moves, notes = append(moves, m...), append(notes, n...)
	}
	return moves, notes
}

func TestLostProcessServerIsEvacuated(t *testing.T) {
	g := newScaleRig(t, []string{"psa", "psb", "psc"}, map[string]string{"web01": "psa", "web02": "psa", "db01": "psb"})
	g.want("web01", "web02", "db01")
	g.beat("psa", map[string]float64{"web01": 3 << 20, "web02": 1 << 20})
	g.beat("psb", map[string]float64{"db01": 1 << 20})
	g.beat("psc", nil)
	// psa stops: nothing moves before 3 missed heartbeats.
	moves, _ := g.tick(90*time.Second, "psb", "psc")
	if len(moves) != 0 {
		t.Fatalf("moves within the bound: %+v", moves)
	}
	moves, _ = g.tick(time.Second, "psb", "psc")
	if len(moves) != 2 {
		t.Fatalf("moves after the bound: %+v", moves)
	}
	// The largest first, to the least loaded (psc, empty); the second to psc too (psb has db01's
	// 1 MiB/s, psc has web01's 3 MiB/s) — no: to psb, now the lighter.
	if moves[0].Machine != "web01" || moves[0].To != "psc" || moves[1].Machine != "web02" || moves[1].To != "psb" {
		t.Errorf("moves %+v", moves)
	}
	if !strings.HasPrefix(moves[0].Reason, "process server psa is lost: no heartbeat for 1m31s") {
		t.Errorf("reason %q", moves[0].Reason)
	}
	ev := g.r.Events()
	if len(ev) != 2 || !ev[0].Automatic {
		t.Errorf("events %+v", ev)
	}
	// psa comes back: nothing moves back (no flapping), and psa takes no machines for the hold time.
	g.beat("psa", nil)
	if moves, _ := g.tick(10*time.Second, "psa", "psb", "psc"); len(moves) != 0 {
		t.Fatalf("moves after psa came back: %+v", moves)
	}
	// Now psc dies: web01 goes to psb, not to psa, which failed within the hold time.
	moves, _ = g.tick(95*time.Second, "psa", "psb")
	if len(moves) != 1 || moves[0].Machine != "web01" || moves[0].To != "psb" {
		t.Fatalf("moves off psc: %+v", moves)
	}
	// And psb dies too, within psa's hold time: nothing may take the machines; said once.
	_, notes := g.tick(95*time.Second, "psa")
	if len(notes) != 1 || notes[0] != "process server psb is lost (no heartbeat for 1m31s): 3 machines stay on it, no process server that may take machines has room for them" {
		t.Fatalf("notes %q", notes)
	}
	if g.assigned("web01") != "psb" {
		t.Errorf("web01 on %s", g.assigned("web01"))
	}
	// Once psa has been healthy for the hold time, it takes them.
	moves, _ = g.tick(10*time.Minute, "psa")
	if len(moves) != 3 || g.assigned("db01") != "psa" {
		t.Errorf("moves once psa is eligible: %+v", moves)
	}
}

func TestUnreachableProcessServer(t *testing.T) {
	g := newScaleRig(t, []string{"psa", "psb"}, map[string]string{"web01": "psa", "web02": "psa"})
	g.want("web01", "web02")
	set := g.r.Settings()
	set.UnreachableAfterSeconds, set.HoldSeconds = 5, 0
	if err := g.r.SetSettings(set); err != nil {
		t.Fatal(err)
	}
	// psa keeps sending heartbeats, but its agents cannot reach it; one agent alone is not enough.
	g.agentBeat("web01", "protected", false)
	g.agentBeat("web02", "protected", true)
	if moves, _ := g.tick(10*time.Second, "psa", "psb"); len(moves) != 0 {
		t.Fatalf("moved while one agent was connected: %+v", moves)
	}
	g.agentBeat("web02", "protected", false)
	moves, _ := g.tick(4*time.Second, "psa", "psb")
	if len(moves) != 0 {
		t.Fatalf("moved before the bound: %+v", moves)
	}
	moves, _ = g.tick(2*time.Second, "psa", "psb")
	if len(moves) != 2 || moves[0].To != "psb" || !strings.Contains(moves[0].Reason, "its 2 replicating agents cannot reach it (for 5s)") {
		t.Fatalf("moves %+v", moves)
	}
	// Their reports from before the move do not make psb unreachable.
	if moves, _ := g.tick(20*time.Second, "psa", "psb"); len(moves) != 0 {
		t.Fatalf("moved again: %+v", moves)
	}
	// One agent alone that cannot reach its process server moves only once that one's heartbeat
	// is late too (the agent may be the one cut off).
	g.agentBeat("web01", "protected", false)
	g.agentBeat("web02", "", false) // not replicating: does not count
	if moves, _ := g.tick(20*time.Second, "psa", "psb"); len(moves) != 0 {
		t.Fatalf("one agent moved its process server's machines: %+v", moves)
	}
	moves, _ = g.tick(40*time.Second, "psa")
	if len(moves) != 2 || moves[0].To != "psa" || !strings.Contains(moves[0].Reason, "process server psb is lost: its 1 replicating agents cannot reach it") {
		t.Fatalf("moves once psb's heartbeat is late: %+v", moves)
	}
}

func TestOverloadedProcessServerShedsOneAtATime(t *testing.T) {
	g := newScaleRig(t, []string{"psa", "psb"}, map[string]string{"m1": "psa", "m2": "psa", "m3": "psa"})
	g.want("m1", "m2", "m3")
	hot := func() {
		h := PSHealth{Status: "ok", CPUPercent: 99, CacheFreePercent: 90,
			Machines: []MachineReport{{Machine: "m1", ChurnBytesPerS: 1 << 20}, {Machine: "m2", ChurnBytesPerS: 3 << 20}, {Machine: "m3"}}}
		if err := g.r.BeatPS("psa", h); err != nil {
			t.Fatal(err)
		}
	}
	var moves []Move
	for range 300 {
		g.c.Advance(time.Second)
		hot()
		g.beat("psb", nil)
		m, _ := g.r.ScaleOutTick()
		moves = append(moves, m...)
		if len(moves) == 1 && g.c.Now().Sub(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) < 121*time.Second {
			t.Fatalf("shed before overload_after_seconds: %+v", moves)
		}
	}
	// Critical from 10:00:01: the first shed at 10:02:01 (m2, the largest), the next 2 min later.
	if len(moves) != 2 || moves[0].Machine != "m2" || moves[1].Machine != "m1" || !strings.Contains(moves[0].Reason, "CPU 99%") {
		t.Fatalf("moves %+v", moves)
	}
}

func TestResyncBudget(t *testing.T) {
	g := newScaleRig(t, []string{"psa", "psb"}, map[string]string{"m1": "psa", "m2": "psa", "m3": "psa", "m4": "psa", "m5": "psb"})
	set := g.r.Settings()
	set.ResyncBudgetPerProcessServer, set.ResyncBudgetPerSite = 2, 3
	if err := g.r.SetSettings(set); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"m1", "m2", "m3", "m4", "m5"} {
		g.agentBeat(m, "", false)
	}
	g.want("m1", "m2", "m3", "m4", "m5")
	replicating := func() string {
		var on []string
		for _, m := range []string{"m1", "m2", "m3", "m4", "m5"} {
			if c, _ := g.r.AgentConfig(m); c.Replicate {
				on = append(on, m)
			}
		}
		return strings.Join(on, ",")
	}
	// psa: 2 slots (m1, m2); the site's third slot goes to m5 on psb.
	if got := replicating(); got != "m1,m2,m5" {
		t.Fatalf("replicating %s, want m1,m2,m5", got)
	}
	g.tick(time.Second, "psa", "psb")
	if q := g.r.Queue(); len(q) != 2 || q[0].Machine != "m3" || q[1].Machine != "m4" {
		t.Fatalf("queue %+v", q)
	}
	_, agents := g.r.View()
	if agents[2].Machine != "m3" || agents[2].State != "queued" {
		t.Errorf("view of m3: %+v", agents[2])
	}
	g.agentBeat("m1", "initial-replication", true)
	g.agentBeat("m2", "initial-replication", true)
	g.tick(time.Second, "psa", "psb")
	if got := replicating(); got != "m1,m2,m5" {
		t.Fatalf("replicating %s during the initial replications", got)
	}
	g.agentBeat("m1", "protected", true)
	g.tick(time.Second, "psa", "psb")
	if got := replicating(); got != "m1,m2,m3,m5" {
		t.Fatalf("replicating %s once m1 is protected", got)
	}
	// A protected agent that restarts (reports no state) is not held back.
	g.agentBeat("m1", "", true)
	g.tick(time.Second, "psa", "psb")
	if c, _ := g.r.AgentConfig("m1"); !c.Replicate {
		t.Error("the protected machine m1 is held back after its agent restarted")
	}
	// No cap: everything runs.
	set.ResyncBudgetPerProcessServer, set.ResyncBudgetPerSite = 0, 0
	if err := g.r.SetSettings(set); err != nil {
		t.Fatal(err)
	}
	if got := replicating(); got != "m1,m2,m3,m4,m5" {
		t.Fatalf("replicating %s without a cap", got)
	}
}

// A process server enrolled long before it starts (no machines, no heartbeat) may take machines
// as soon as it reports healthy: having no heartbeat while it had nothing to do failed nobody.
func TestLateStartedProcessServerIsEligible(t *testing.T) {
	g := newScaleRig(t, []string{"psa", "psb"}, map[string]string{"web01": "psa"})
	g.tick(5*time.Minute, "psa")
	pss, _ := g.r.Loads()
	if pss[1].Name != "psb" || pss[1].Lost == "" || pss[1].Eligible {
		t.Fatalf("psb before its start: %+v", pss[1])
	}
	g.beat("psb", nil)
	pss, _ = g.r.Loads()
	if pss[1].Lost != "" || !pss[1].Eligible {
		t.Fatalf("psb once it reports: %+v", pss[1])
	}
}
