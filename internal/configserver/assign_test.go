package configserver

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver/vaultlink"
)

// scaleRig is a registry with process servers and agents, on a fake clock.
type scaleRig struct {
	t   *testing.T
	c   *clock.Fake
	r   *Registry
	dir string
}

func newScaleRig(t *testing.T, pss []string, machines map[string]string) *scaleRig {
	t.Helper()
	dir := t.TempDir()
	c := clock.NewFake(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	r, err := OpenRegistry(filepath.Join(dir, StateFile), c)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pss {
		if err := r.AddProcessServer(ProcessServerRecord{Name: p, Address: fmt.Sprintf("10.0.0.%d:9443", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	for m, p := range machines {
		if _, err := r.AddAgent(AgentRecord{Machine: m, ProcessServer: p}); err != nil {
			t.Fatal(err)
		}
	}
	s := DefaultScaleOut()
	s.ResyncBudgetPerProcessServer, s.ResyncBudgetPerSite = 0, 0
	if err := r.SetSettings(s); err != nil {
		t.Fatal(err)
	}
	return &scaleRig{t: t, c: c, r: r, dir: dir}
}

// beat sends a healthy heartbeat of process server ps listing machines with their churn.
func (g *scaleRig) beat(ps string, churn map[string]float64) {
	g.t.Helper()
	h := PSHealth{Status: "ok", CacheFreePercent: 90, CacheBytes: 100 << 30, CacheFreeBytes: 90 << 30, DrainSeconds: 0}
	for m, c := range churn {
		h.Machines = append(h.Machines, MachineReport{Machine: m, Connected: true, ChurnBytesPerS: c})
	}
	if err := g.r.BeatPS(ps, h); err != nil {
		g.t.Fatal(err)
	}
}

func (g *scaleRig) agentBeat(machine, state string, connected bool) {
	g.r.BeatAgent(machine, AgentHeartbeat{State: state, ProcessServerConnected: &connected})
}

func (g *scaleRig) assigned(machine string) string {
	g.r.mu.Lock()
	defer g.r.mu.Unlock()
	return g.r.assignedLocked(machine)
}

func (g *scaleRig) want(machines ...string) {
	g.t.Helper()
	d := &vaultlink.DesiredState{Version: 1}
	for _, m := range machines {
		d.Items = append(d.Items, vaultlink.Desired{Machine: m, Policy: vaultlink.Policy{Name: "gold", RPOThresholdSeconds: 900}})
	}
	if err := g.r.SetDesired(d); err != nil {
		g.t.Fatal(err)
	}
}

func TestPlanSwitchErrors(t *testing.T) {
	g := newScaleRig(t, []string{"psa", "psb"}, map[string]string{"web01": "psa", "db01": "psb"})
	for _, tc := range []struct {
		from, to string
		machines []string
		want     string
	}{
		{"nope", "psb", nil, "process server nope is not enrolled"},
		{"psa", "nope", nil, "process server nope is not enrolled"},
		{"psa", "psa", nil, "the source and the target are both process server psa"},
		{"psa", "psb", []string{"db01"}, "machine db01 is on process server psb, not psa"},
		{"psa", "psb", []string{"web02"}, "machine web02 is not enrolled"},
		{"psa", "psb", []string{"web01", "web01"}, "machine web01 is named twice"},
	} {
		_, err := g.r.PlanSwitch(tc.from, tc.to, tc.machines)
		if err == nil || err.Error() != tc.want {
			t.Errorf("switch %s→%s %v: %v, want %q", tc.from, tc.to, tc.machines, err, tc.want)
		}
	}
	g2 := newScaleRig(t, []string{"psa", "psb"}, map[string]string{"web01": "psb"})
	if _, err := g2.r.PlanSwitch("psa", "psb", nil); !errors.Is(err, ErrNoMove) || err.Error() != "process server psa has no machines: nothing to move" {
		t.Errorf("switch of an empty process server: %v", err)
	}
}

func TestSwitchMovesAndAgentsSeeIt(t *testing.T) {
	g := newScaleRig(t, []string{"psa", "psb"}, map[string]string{"web01": "psa", "web02": "psa", "db01": "psa"})
	g.beat("psa", map[string]float64{"web01": 2 << 20, "web02": 1 << 20, "db01": 0})
	g.beat("psb", nil)
	g.r.Loads() // samples the heartbeats
	moves, err := g.r.PlanSwitch("psa", "psb", []string{"web01", "web02"})
	if err != nil {
		t.Fatal(err)
	}
	if len(moves) != 2 || moves[0].Machine != "web01" || moves[0].ChurnBytesPerS != 2<<20 ||
		moves[0].CacheNeedBytes != int64(2<<20)*int64(CacheHorizon/time.Second) || moves[1].To != "psb" {
		t.Fatalf("plan %+v", moves)
	}
	// 90 GiB free of 100 GiB, less 1.8 GiB... the share after both moves is in the second move.
	wantFree := 100 * float64(90<<30-moves[0].CacheNeedBytes-moves[1].CacheNeedBytes) / float64(100<<30)
	if moves[1].TargetCacheFreePercent != wantFree {
		t.Errorf("target free after the plan %.3f, want %.3f", moves[1].TargetCacheFreePercent, wantFree)
	}
	if g.assigned("web01") != "psa" {
		t.Fatal("a plan moved a machine")
	}
	v0, changed := g.r.ConfigVersion()
	if err := g.r.Reassign(moves, false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("the move did not wake the agents' long polls")
	}
	if v, _ := g.r.ConfigVersion(); v != v0+1 {
		t.Errorf("config version %d after the move, want %d", v, v0+1)
	}
	c, _ := g.r.AgentConfig("web01")
	if c.ProcessServer != "10.0.0.2:9443" || c.ProcessServerName != "psb" {
		t.Errorf("web01 is told %s (%s), want psb at 10.0.0.2:9443", c.ProcessServerName, c.ProcessServer)
	}
	if g.assigned("db01") != "psa" {
		t.Errorf("db01 moved with the others")
	}
	// A second apply of the same plan changes nothing: the machines are no longer on psa.
	if err := g.r.Reassign(moves, false); err == nil || err.Error() != "machine web01 is on process server psb, not psa" {
		t.Errorf("replayed move: %v", err)
	}
	ev := g.r.Events()
	if len(ev) != 2 || ev[0].Automatic || ev[0].Machine != "web01" || ev[0].From != "psa" || ev[0].To != "psb" {
		t.Errorf("events %+v", ev)
	}
	// A new desired state that repeats the vault's old choice does not undo the switch; a new
	// choice of the vault does move the machine.
	d := &vaultlink.DesiredState{Version: 2, Items: []vaultlink.Desired{{Machine: "web01", ProcessServer: "psa"}}}
	g.r.mu.Lock()
	g.r.st.Desired = d
	g.r.mu.Unlock()
	if err := g.r.SetDesired(&vaultlink.DesiredState{Version: 3, Items: []vaultlink.Desired{{Machine: "web01", ProcessServer: "psa"}}}); err != nil {
		t.Fatal(err)
	}
	if g.assigned("web01") != "psb" {
		t.Errorf("a repeated desired state moved web01 back to %s", g.assigned("web01"))
	}
	if err := g.r.SetDesired(&vaultlink.DesiredState{Version: 4, Items: []vaultlink.Desired{{Machine: "web01", ProcessServer: "psb"}}}); err != nil {
		t.Fatal(err)
	}
	if err := g.r.SetDesired(&vaultlink.DesiredState{Version: 5, Items: []vaultlink.Desired{{Machine: "web01", ProcessServer: "psa"}}}); err != nil {
		t.Fatal(err)
	}
	if g.assigned("web01") != "psa" {
		t.Errorf("the vault's new choice did not move web01: on %s", g.assigned("web01"))
	}
}

func TestPlanBalance(t *testing.T) {
	for _, tc := range []struct {
		name  string
		on    map[string]string
		churn map[string]float64
		want  map[string]string // machine → process server after the plan
		err   string
	}{
		{"by number", map[string]string{"m1": "psa", "m2": "psa", "m3": "psa", "m4": "psa"}, nil,
			map[string]string{"m1": "psb", "m2": "psb", "m3": "psa", "m4": "psa"}, ""},
		{"by churn", map[string]string{"big": "psa", "s1": "psa", "s2": "psa", "s3": "psb"},
			map[string]float64{"big": 8 << 20, "s1": 1 << 20, "s2": 1 << 20, "s3": 1 << 20},
			map[string]string{"big": "psb", "s1": "psa", "s2": "psa", "s3": "psa"}, ""},
		{"balanced", map[string]string{"m1": "psa", "m2": "psb", "m3": "psa"}, nil, nil,
			"the process servers are balanced: nothing to move"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newScaleRig(t, []string{"psa", "psb"}, tc.on)
			ca, cb := map[string]float64{}, map[string]float64{}
			for m, p := range tc.on {
				if p == "psa" {
					ca[m] = tc.churn[m]
				} else {
					cb[m] = tc.churn[m]
				}
			}
			g.beat("psa", ca)
			g.beat("psb", cb)
			g.r.Loads()
			moves, err := g.r.PlanBalance(nil, false)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("balance: %v %+v, want %q", err, moves, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := g.r.Reassign(moves, false); err != nil {
				t.Fatal(err)
			}
			for m, p := range tc.want {
				if g.assigned(m) != p {
					t.Errorf("%s on %s, want %s (moves %+v)", m, g.assigned(m), p, moves)
				}
			}
		})
	}
}
