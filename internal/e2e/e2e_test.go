//go:build linux

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEndToEnd: one disk with ext4 mounted and a workload writing to it; every point checked
// is fsck-clean and holds every file fsynced before its capture time, byte-exact. It runs with
// the scan tracker and with the eBPF write tracker.
func TestEndToEnd(t *testing.T) {
	for _, tracker := range []string{"scan", "ebpf"} {
		t.Run(tracker, func(t *testing.T) { endToEnd(t, tracker) })
	}
}

// endToEnd is TestEndToEnd with one change tracker.
func endToEnd(t *testing.T, tracker string) {
	needRoot(t)
	dir := t.TempDir()
	disk := newLoopDisk(t, dir, "sda", 96<<20)
	c := newCluster(t, dir, clusterOptions{tracker: tracker})
	c.dumpOnFailure()
	w := startWorkload(t, dir, 1, disk)
	a := c.newAgent("web01", c.psAddr, disk)
	started := time.Now()
	a.start()
	ps := c.waitPoints("web01", 4, started, 90*time.Second)
	w.stop(t)
	st := a.waitRPO(10*time.Second, 30*time.Second)
	if st.State != "protected" {
		t.Errorf("state %q after initial replication, want protected", st.State)
	}
	if w.ops() < 20 {
		t.Fatalf("the workload did only %d operations", w.ops())
	}
	var strict []string
	for _, p := range ps {
		pc := checkPoint(t, c.vault, dir, p, w)
		t.Logf("point %s %s %s: %s", p.ID[:12], p.Time.Format("15:04:05.000"), p.Consistency, pc.out)
		if !pc.strictOK {
			strict = append(strict, fmt.Sprintf("point %s captured %s: %s", p.ID[:12], p.Time.Format(time.RFC3339Nano), pc.strictOut))
		}
	}
	c.storeCheck()
	// A point's capture time is its instant: nothing written after it shows in the point (a user
	// who picks the last point before 10:00 gets nothing of 10:00).
	t.Run("capture time is the instant", func(t *testing.T) {
		if len(strict) > 0 {
			t.Errorf("%d of %d points hold writes begun after their capture time:\n%s", len(strict), len(ps), strings.Join(strict, "\n"))
		}
	})
}

// TestTwoDisks: one workload writes to two disks of one machine in one sequence; every point's
// disks show one instant of it.
func TestTwoDisks(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	d1 := newLoopDisk(t, dir, "sda", 64<<20)
	d2 := newLoopDisk(t, dir, "sdb", 64<<20)
	c := newCluster(t, dir, clusterOptions{})
	c.dumpOnFailure()
	w := startWorkload(t, dir, 2, d1, d2)
	a := c.newAgent("db01", c.psAddr, d1, d2)
	started := time.Now()
	a.start()
	ps := c.waitPoints("db01", 3, started, 90*time.Second)
	w.stop(t)
	for _, p := range ps {
		if len(p.Disks) != 2 {
			t.Fatalf("point %s has %d disks, want 2", p.ID[:12], len(p.Disks))
		}
		t.Logf("point %s %s: %s", p.ID[:12], p.Time.Format("15:04:05.000"), checkPoint(t, c.vault, dir, p, w).out)
	}
	// The check can fail: disk sda of the first point with disk sdb of the last one are two
	// instants, even with a window that admits both.
	first, last := ps[0], ps[len(ps)-1]
	mntA, releaseA := mountPoint(t, c.vault, dir, first, "sda")
	defer releaseA()
	mntB, releaseB := mountPoint(t, c.vault, dir, last, "sdb")
	defer releaseB()
	out, code := runCode(t, nil, workloadBin, "verify", "--manifest", w.manifest, "--at", first.Time.Format(time.RFC3339Nano),
		"--slack", last.Committed.Sub(first.Time).String(), "--root", "sda="+filepath.Join(mntA, "w"), "--root", "sdb="+filepath.Join(mntB, "w"))
	if code != 1 || !strings.Contains(out, "the files fit no single cut in the capture window") {
		t.Errorf("sda of %s with sdb of %s: verify exit %d, want 1 with no single cut:\n%s", first.ID[:12], last.ID[:12], code, out)
	}
}
