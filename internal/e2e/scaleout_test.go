//go:build linux

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestScaleOut runs a site as users do, on the built binary: osr up (the vault), a configuration
// server with its default process server (A, a process of its own) and a scale-out process
// server (B), and five managed agents on disk images. It checks, on real TLS sockets and a real
// file:// vault store:
//   - the resync budget: with 2 slots per process server and 5 machines enabled at once, never
//     more than 2 initial replications run, the others are shown queued, all end protected;
//   - a switch of 2 machines from A to B with points in flight: replication goes on within
//     seconds, no resync, and the agents send about what was not committed, not their disks;
//     one machine switched back to A (which must catch up with B's commits) does not resync either;
//   - kill -9 of A: its machines move to B by themselves and replicate again, RPO back under the
//     policy's threshold, no resync;
//   - A restarted: osr process-server balance moves 2 of the 5 machines back to it, which
//     replicate through it without a resync (automatic moves would not: A is held for 10 min);
//   - every complete point of every machine exports byte-exact (as the image was when captured).
func TestScaleOut(t *testing.T) {
	s := newScaleSite(t, 5)
	s.budgetPhase()
	s.switchPhase()
	s.failoverPhase()
	s.balancePhase()
	s.verifyPoints()
}

// budgetPhase: every machine on A, 5 enabled at once, 2 slots: never more than 2 at a time.
func (s *scaleSite) budgetPhase() {
	t := s.t
	waitFor(t, 60*time.Second, "every agent's heartbeat at the configuration server", func() (bool, string) {
		out := s.osr(nil, "infrastructure", "--data-dir", s.cs, "--json")
		var inf struct {
			ConfigurationServers []struct {
				Agents []struct {
					Status string `json:"status"`
				} `json:"agents"`
			} `json:"configuration_servers"`
		}
		if err := json.Unmarshal([]byte(out), &inf); err != nil || len(inf.ConfigurationServers) != 1 {
			return false, out
		}
		n := 0
		for _, a := range inf.ConfigurationServers[0].Agents {
			if a.Status == "Connected" {
				n++
			}
		}
		return n == len(s.agents), out
	})
	if out, code := runCode(t, nil, osrBin, "process-server", "switch", "--from", "psb", "--to", "cs2", "--yes", "--data-dir", s.cs); code != 0 &&
		!strings.Contains(out, "process server psb has no machines: nothing to move") {
		t.Fatalf("switch to A: exit %d\n%s", code, out)
	}
	s.osr(s.env, "policy", "create", "gold", "--vault", "default", "--rpo-threshold", "1m", "--retention", "1h",
		"--app-consistent-frequency", "5m", "--crash-consistent-frequency", "30s")
	s.osr(s.env, "policy", "associate", "gold", "--vault", "default", "--config-server", "cs2")
	for _, a := range s.agents { // at once: each is enabled as soon as the vault's inventory has it
		waitFor(t, 30*time.Second, a.name+" in the vault's inventory", func() (bool, string) {
			out, code := runCode(t, s.env, osrBin, "replication", "enable", a.name, "--policy", "gold", "--vault", "default")
			return code == 0, out
		})
	}
	enabled := time.Now()
	maxSlots, maxRunning, queued := 0, 0, map[string]bool{}
	waitFor(t, 3*time.Minute, "every machine protected", func() (bool, string) {
		v := s.view()
		running, protected := 0, 0
		var states []string
		for _, m := range v.Machines {
			switch m.State {
			case "initial-replication", "resynchronising":
				running++
			case "protected":
				protected++
			case "queued":
				queued[m.Machine] = true
			}
			states = append(states, m.Machine+"="+m.State)
		}
		for _, p := range v.ProcessServers {
			maxSlots = max(maxSlots, p.ResyncSlotsUsed)
		}
		maxRunning = max(maxRunning, running)
		return protected == len(s.agents), strings.Join(states, " ")
	})
	t.Logf("budget: 5 machines protected %v after enable; at most %d initial replications at once, %d slots used at most, queued: %v",
		time.Since(enabled).Round(time.Second), maxRunning, maxSlots, queued)
	if maxSlots > 2 || maxRunning > 2 {
		t.Errorf("the budget of 2 let %d slots and %d initial replications run at once", maxSlots, maxRunning)
	}
	if len(queued) == 0 {
		t.Error("no machine was ever shown queued: the budget did not hold any back")
	}
	for _, a := range s.agents {
		s.capture(a)
	}
}

func (s *scaleSite) switchPhase() {
	t := s.t
	two := s.agents[:2]
	var before []*scaleStatus
	for _, a := range two {
		st, err := s.status(a)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, st)
		a.write(t, 256) // 1 MiB not yet sent
		runCode(t, nil, osrBin, "mobility", "capture", "--config", a.config)
	}
	began := time.Now()
	out := s.osr(nil, "process-server", "switch", "--from", "cs2", "--to", "psb", "web01", "web02", "--yes", "--data-dir", s.cs)
	if !strings.Contains(out, "Moved 2 machines") || !strings.Contains(out, "CHANGE RATE (AVG)") {
		t.Fatalf("switch:\n%s", out)
	}
	took := s.moved(two, s.psBAddr, began)
	t.Logf("switch of 2 machines A → B: replicating through B %v after the command began", took.Round(10*time.Millisecond))
	for i, a := range two {
		s.capture(a)
		s.noResync(a, before[i], 8<<20)
	}
	// web01 back to A, which has not seen B's commits: it must catch up, not resend or resync.
	a := s.agents[0]
	st, err := s.status(a)
	if err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	s.osr(nil, "process-server", "switch", "--from", "psb", "--to", "cs2", "web01", "--yes", "--data-dir", s.cs)
	t.Logf("switch of web01 back B → A: replicating through A %v after the command", s.moved(s.agents[:1], s.psAAddr(), began).Round(10*time.Millisecond))
	s.capture(a)
	s.noResync(a, st, 4<<20)
}

// failoverPhase: kill -9 of A with points in flight; its machines go to B by themselves.
func (s *scaleSite) failoverPhase() {
	t := s.t
	var onA []*scaleAgent
	var before []*scaleStatus
	for _, a := range s.agents {
		if a.name == "web02" {
			continue // on B since the switch
		}
		st, err := s.status(a)
		if err != nil {
			t.Fatal(err)
		}
		onA, before = append(onA, a), append(before, st)
		a.write(t, 64)
		runCode(t, nil, osrBin, "mobility", "capture", "--config", a.config)
	}
	killed := time.Now()
	s.psA.kill9()
	took := s.moved(onA, s.psBAddr, killed)
	t.Logf("kill -9 of A: its %d machines replicating through B again %v after the kill", len(onA), took.Round(10*time.Millisecond))
	auto := 0
	for _, e := range s.view().Events {
		if e.Automatic && e.From == "cs2" && e.To == "psb" && strings.HasPrefix(e.Reason, "process server cs2 is lost: its 4 replicating agents cannot reach it") {
			auto++
		}
	}
	if auto != len(onA) {
		t.Errorf("%d automatic moves off A recorded, want %d:\n%s", auto, len(onA), s.osr(nil, "process-server", "scale-out", "--data-dir", s.cs))
	}
	for i, a := range onA {
		st := s.capture(a)
		if st.RPOSeconds >= 60 {
			t.Errorf("%s: RPO %.0fs after the failover, over the policy's 1m", a.name, st.RPOSeconds)
		}
		s.noResync(a, before[i], 8<<20)
	}
	t.Log(s.osr(nil, "process-server", "scale-out", "--data-dir", s.cs))
}

// verifyPoints exports every complete point of every machine and compares it with the image as
// it was between the point's capture and its commit.
func (s *scaleSite) verifyPoints() {
	t := s.t
	n := 0
	for _, a := range s.agents {
		out := s.osr(s.store, "store", "ls", "--machine", a.name, "--json")
		var pts []point
		if err := json.Unmarshal([]byte(out), &pts); err != nil {
			t.Fatal(err)
		}
		for _, p := range complete(pts) {
			file := filepath.Join(s.dir, "export.img")
			s.osr(s.store, "store", "export", "--point", p.ID, "--machine", a.name, "--disk", "sda", "--out", file)
			sum := fileSum(t, file)
			os.Remove(file)
			ok := false
			for i, st := range a.states {
				existed := i == 0 || !st.start.After(p.Committed)
				superseded := i+1 < len(a.states) && a.states[i+1].end.Before(p.Time)
				if existed && !superseded && st.sum == sum {
					ok = true
				}
			}
			if !ok {
				t.Errorf("point %s of %s (captured %s, committed %s) matches no state of the image in that window",
					p.ID[:12], a.name, p.Time.Format(time.RFC3339Nano), p.Committed.Format(time.RFC3339Nano))
			}
			n++
		}
	}
	t.Logf("%d complete points exported, each byte-exact", n)
	out := s.osr(s.store, "store", "check", "--read-data")
	if !strings.Contains(out, "no problems found") {
		t.Fatalf("store check: %s", out)
	}
}

// balancePhase: A comes back; balance spreads the machines over A and B again.
func (s *scaleSite) balancePhase() {
	t := s.t
	s.psA = start(t, s.dir, "ps-a", nil, osrBin, "process-server", "serve", "--config", filepath.Join(s.cs, "process-server", "process-server.yaml"))
	waitFor(t, 30*time.Second, "A serving again", func() (bool, string) {
		if s.psA.exited() {
			t.Fatalf("A exited:\n%s", tail(s.psA.log, 30))
		}
		return strings.Count(s.psA.logText(), "process server listening") >= 2, "not listening yet"
	})
	var before []*scaleStatus
	for _, a := range s.agents {
		st, err := s.status(a)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, st)
	}
	began := time.Now()
	out := s.osr(nil, "process-server", "balance", "cs2", "psb", "--yes", "--data-dir", s.cs)
	if !strings.Contains(out, "Moved 2 machines") {
		t.Fatalf("balance:\n%s", out)
	}
	var back []*scaleAgent
	for _, m := range s.view().Machines {
		for _, a := range s.agents {
			if a.name == m.Machine && m.ProcessServer == "cs2" {
				back = append(back, a)
			}
		}
	}
	if len(back) != 2 {
		t.Fatalf("%d machines on A after the balance, want 2:\n%s", len(back), out)
	}
	t.Logf("balance: %s and %s replicating through A again %v after the command", back[0].name, back[1].name,
		s.moved(back, s.psAAddr(), began).Round(10*time.Millisecond))
	for i, a := range s.agents {
		s.capture(a)
		s.noResync(a, before[i], 4<<20)
	}
	if out, code := runCode(t, nil, osrBin, "process-server", "balance", "--yes", "--data-dir", s.cs); code != 0 ||
		out != "Nothing moved: the process servers are balanced.\n" && out != "Nothing moved: balancing needs two process servers that may take machines, there are 1.\n" {
		t.Errorf("second balance: exit %d\n%s\n%s", code, out, s.osr(nil, "infrastructure", "--data-dir", s.cs, "--json"))
	}
}
