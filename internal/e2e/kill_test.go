//go:build linux

package e2e

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// killTrials is how many times each kill test kills its process.
const killTrials = 20

// killSetup is one protected disk with a workload, its cluster and agent, replicating.
func killSetup(t *testing.T, machine string, seed int) (*cluster, *agent, *workload, string) {
	c, a, w, dir, _ := killSetupDisk(t, machine, seed)
	return c, a, w, dir
}

func killSetupDisk(t *testing.T, machine string, seed int) (*cluster, *agent, *workload, string, *loopDisk) {
	t.Helper()
	needRoot(t)
	dir := t.TempDir()
	disk := newLoopDisk(t, dir, "sda", 64<<20)
	c := newCluster(t, dir, clusterOptions{})
	c.dumpOnFailure()
	w := startWorkload(t, dir, seed, disk)
	a := c.newAgent(machine, c.psAddr, disk)
	started := time.Now()
	a.start()
	c.waitPoints(machine, 1, started, 60*time.Second)
	return c, a, w, dir, disk
}

// committedBefore lists the complete points now, by ID.
func committedBefore(t *testing.T, c *cluster, machine string) map[string]point {
	t.Helper()
	ps, err := c.vault.points(t, machine)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]point{}
	for _, p := range complete(ps) {
		m[p.ID] = p
	}
	return m
}

// afterKills checks what must hold once the kills are over: replication resumed (a point
// captured after the last restart), the RPO recovered, no point committed before a kill was
// lost, the store checks clean, and every point exports, is fsck-clean and verifies.
func afterKills(t *testing.T, c *cluster, a *agent, w *workload, dir string, seen map[string]point, lastRestart time.Time) *agentStatus {
	t.Helper()
	c.waitPoints(a.machine, 2, lastRestart, 90*time.Second)
	st := a.waitRPO(15*time.Second, 60*time.Second)
	t.Logf("RPO back to %.1fs %v after the last restart", st.RPOSeconds, time.Since(lastRestart).Round(100*time.Millisecond))
	w.stop(t)
	now := committedBefore(t, c, a.machine)
	var lost []string
	for id, p := range seen {
		if _, ok := now[id]; !ok {
			lost = append(lost, id[:12]+" ("+p.Time.Format("15:04:05.000")+")")
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d committed points lost after the kills: %s", len(lost), strings.Join(lost, ", "))
	}
	c.storeCheck()
	var ids []point
	for _, p := range now {
		ids = append(ids, p)
	}
	sortPoints(ids)
	for _, p := range ids {
		t.Logf("point %s %s: %s", p.ID[:12], p.Time.Format("15:04:05.000"), checkPoint(t, c.vault, dir, p, w).out)
	}
	return st
}

func sortPoints(ps []point) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Time.Before(ps[j-1].Time); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// pause sleeps a random time between 30 ms and 2 s, most often short.
func pause(rng *rand.Rand) {
	d := time.Duration(30+rng.IntN(300)) * time.Millisecond
	if rng.IntN(4) == 0 {
		d = time.Duration(300+rng.IntN(1700)) * time.Millisecond
	}
	time.Sleep(d)
}

// TestKillAgent kills the agent with SIGKILL at random moments and restarts it each time.
func TestKillAgent(t *testing.T) {
	c, a, w, dir, disk := killSetupDisk(t, "kill-agent", 3)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	seen := map[string]point{}
	var lastRestart time.Time
	leftFrozen, notThawed := 0, 0
	for trial := range killTrials {
		pause(rng)
		for id, p := range committedBefore(t, c, a.machine) {
			seen[id] = p
		}
		if trial%5 == 2 {
			killInFreeze(t, a, disk, 5*time.Second) // aim at the capture's freeze
		} else {
			a.p.kill9()
		}
		// A kill inside the capture's freeze leaves the file system frozen (the kernel keeps it);
		// the restarted agent must thaw it, or the machine's writers hang for good.
		wasFrozen := frozen(t, disk.mnt)
		if trial%5 == 4 {
			pause(rng) // sometimes stay down a while
		}
		lastRestart = time.Now()
		a.start()
		if wasFrozen {
			leftFrozen++
			deadline := time.Now().Add(5 * time.Second)
			for frozen(t, disk.mnt) {
				if time.Now().After(deadline) {
					notThawed++
					run(t, nil, "fsfreeze", "-u", disk.mnt) // so that the trials go on
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	t.Logf("%d of %d kills left the file system frozen", leftFrozen, killTrials)
	if notThawed > 0 {
		t.Errorf("%d times the restarted agent left the file system frozen by its killed predecessor for 5s (the test thawed it)", notThawed)
	}
	st := afterKills(t, c, a, w, dir, seen, lastRestart)
	if !hasEvent(st, "resync") {
		t.Errorf("no resync event after %d unclean stops; events:\n%s", killTrials, st.events())
	}
	if st.Resyncs == 0 {
		t.Errorf("status counts no resync after %d unclean stops", killTrials)
	}
}

// TestKillProcessServer kills the process server with SIGKILL at random moments and restarts
// it on the same port; the agent reconnects by itself.
func TestKillProcessServer(t *testing.T) {
	c, a, w, dir := killSetup(t, "kill-ps", 4)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))
	seen := map[string]point{}
	var lastRestart time.Time
	for trial := range killTrials {
		pause(rng)
		for id, p := range committedBefore(t, c, a.machine) {
			seen[id] = p
		}
		if trial%4 == 1 {
			// Aim between Durable and Committed: kill as soon as the agent hears Durable.
			n := len(durableRE.FindAllString(a.p.logText(), -1))
			deadline := time.Now().Add(5 * time.Second)
			for len(durableRE.FindAllString(a.p.logText(), -1)) == n && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
		}
		c.ps.kill9()
		lastRestart = time.Now()
		c.startPS()
	}
	st := afterKills(t, c, a, w, dir, seen, lastRestart)
	if !hasEvent(st, "disconnect") && !hasEvent(st, "connect") {
		t.Errorf("no event says the connection to the process server broke; events:\n%s", st.events())
	}
	if a.p.exited() {
		t.Fatalf("the agent exited: %v", a.p.err)
	}
	log := c.ps.logText() // the log file spans every restart
	t.Logf("process server log: %d starts, %d cached points replayed, %d committed",
		strings.Count(log, "=== "), strings.Count(log, "replaying cached point"), strings.Count(log, "committed point"))
	// Durable is a promise: every complete point the agent heard Durable for is in the store,
	// whatever the kills did to the process server (docs/pipeline.md).
	agentLog := a.p.logText()
	kinds := map[string]string{}
	for _, m := range sentRE.FindAllStringSubmatch(agentLog, -1) {
		kinds[m[1]] = m[2]
	}
	ps, err := c.vault.points(t, a.machine)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, p := range ps {
		stored[p.Labels["osr.seq"]] = true
	}
	var broken []string
	checked := 0
	for _, m := range durableRE.FindAllStringSubmatch(agentLog, -1) {
		if kinds[m[1]] == "partial" {
			continue // retention may thin partial points away
		}
		checked++
		if !stored[m[1]] {
			broken = append(broken, m[1])
		}
	}
	t.Logf("%d durable complete points, each in the store", checked)
	if len(broken) > 0 {
		t.Errorf("points the process server said were durable are not in the store: seq %s", strings.Join(broken, ", "))
	}
}

var (
	durableRE = regexp.MustCompile(`event=durable seq=(\d+)`)
	sentRE    = regexp.MustCompile(`event=point-sent seq=(\d+) kind=(\w+)`)
)

// killInFreeze kills the agent while the disk's file system is frozen (a write to it blocks for
// more than 15 ms), or at the end of timeout if no freeze came.
func killInFreeze(t *testing.T, a *agent, disk *loopDisk, timeout time.Duration) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(disk.mnt, "freeze-probe"), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var writing atomic.Int64 // start of the write in progress (unix ns), 0: none
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := []byte{1}
		for !stop.Load() {
			writing.Store(time.Now().UnixNano())
			f.WriteAt(b, 0)
			writing.Store(0)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if s := writing.Load(); s != 0 && time.Since(time.Unix(0, s)) > 15*time.Millisecond {
			break
		}
		time.Sleep(time.Millisecond)
	}
	a.p.kill9()
	stop.Store(true)
	go func() { <-done; f.Close() }() // the probe's write may wait for the thaw
}

// hasEvent reports whether an event's kind or message mentions word.
func hasEvent(st *agentStatus, word string) bool {
	for _, e := range st.Events {
		if strings.Contains(strings.ToLower(e.Kind), word) || strings.Contains(strings.ToLower(e.Message), word) {
			return true
		}
	}
	return false
}
