//go:build linux

package flow

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/failover"
	"github.com/opensiterecovery/osr/internal/vault"
)

// TestFailoverFlow fails a machine over as a user does, on the built binary: osr up, an agent on
// a mounted ext4 loop device under a live write workload (tools/workload: fsynced creates,
// overwrites, appends, renames, deletes, with a manifest), a network mapping and local targets
// (raw, vhd, qcow2) through the CLI, test failovers checked with qemu-img against osr store export
// of the same point while replication goes on, cleanups that leave nothing behind, bad input
// with exact errors that changes nothing, a planned failover (--shutdown-source) whose disk holds
// every file acknowledged before the command began (mounted read-only, fsck clean), commit and
// migration complete; then a boot check (--verify-boot) of a replicated bootable disk. It logs the
// RTO of each failover job from the job's times.
func TestFailoverFlow(t *testing.T) {
	begin := time.Now()
	needTools(t, map[string]string{"qemu-img": "qemu-utils", "fsck.ext4": "e2fsprogs", "losetup": "mount", "mount": "mount"})
	requireCommands(t)
	// The agents' eBPF trackers stay pinned when they stop (to resume tracking); these machines
	// do not come back. Registered first, so that it runs after the processes stopped. The names
	// are this test's alone: suites of other packages run at the same time with their own agents.
	t.Cleanup(func() {
		for _, m := range []string{"fo-web01", "fo-boot01"} {
			_ = os.RemoveAll(filepath.Join("/sys/fs/bpf/osr", m))
		}
	})
	// The file systems come before the processes: their cleanups run after the processes stop.
	srcDev, srcMnt := ext4Loop(t, 128, "-E", "lazy_itable_init=0,lazy_journal_init=0")
	_, root := ext4Loop(t, 8<<10)
	f := startUp(t, root)

	web := f.protect("fo-web01", srcDev, true)
	wl := f.startWorkload(srcMnt)
	f.waitNewPoint(web.name, time.Now())

	// Targets and the network mapping; a failover of an unmapped network is refused first.
	dirs := map[string]string{}
	for _, format := range []string{"raw", "vhd", "qcow2"} {
		dirs[format] = filepath.Join(root, "fo-"+format)
		f.ok("target "+format+" (local) added\n", "target", "add", "--name", format, "--provider", "local", "--dir", dirs[format], "--format", format)
	}
	f.refused(1, `osr: network default of nic nic0 of machine fo-web01 is not mapped: add a network mapping for it (osr network-mapping add --source-network "default" ...)`+"\n",
		"failover", "test", "fo-web01", "--network", "isolated", "--target", "raw")
	f.ok("network default maps to dr-net (test: dr-test), addresses keep\n",
		"network-mapping", "add", "--source-network", "default", "--target-network", "dr-net", "--test-network", "dr-test")
	f.refused(1, "osr: vault default has 3 failover targets (qcow2, raw, vhd): choose one\n", "failover", "test", "fo-web01")

	// Test failover to raw at the newest committed point, while the workload writes.
	st := f.testFailover(web.name, "latest-processed", "raw")
	rec := st.Test
	exp := f.export(rec.PointID, web.name, "sda")
	checkImage(t, exp, rec.Result.Disks[0], "raw", 128<<20)
	sum := checkExt4(t, rec.Result.Disks[0], wl, *rec.PointTime, f.slack(web.name, rec.PointID))
	t.Logf("test failover (raw) at point %s: fsck clean, %s; RTO %s", rec.PointID[:12], sum, f.rto(rec.JobID))
	f.checkDefinition(rec, "fo-web01-test", "isolated")
	f.cleanup(web.name, "raw", dirs["raw"])
	// The same point as VHD and qcow2.
	for _, format := range []string{"vhd", "qcow2"} {
		st := f.testFailover(web.name, rec.PointID, format)
		checkImage(t, exp, st.Test.Result.Disks[0], format, 128<<20)
		t.Logf("test failover (%s) at point %s: RTO %s", format, rec.PointID[:12], f.rto(st.Test.JobID))
		f.cleanup(web.name, format, dirs[format])
	}
	// Replication went on.
	f.waitNewPoint(web.name, time.Now())
	// Point latest: the process server commits what it received first.
	began := time.Now()
	st = f.testFailover(web.name, failover.PointLatest, "raw")
	if !st.Test.PointTime.After(began.Add(-6 * time.Second)) {
		t.Fatalf("test failover at point latest used a point captured at %s, before the request (%s) by more than a capture interval", st.Test.PointTime, began)
	}
	checkImage(t, f.export(st.Test.PointID, web.name, "sda"), st.Test.Result.Disks[0], "raw", 128<<20)
	checkExt4(t, st.Test.Result.Disks[0], wl, *st.Test.PointTime, f.slack(web.name, st.Test.PointID))
	// Its RTO holds the latest-received wait: the configuration server asks the process server for
	// a fresh heartbeat and waits until its commits cover what it had acknowledged.
	t.Logf("test failover at point latest (%s, captured %v after the request): RTO %s", st.Test.PointID[:12],
		st.Test.PointTime.Sub(began).Round(time.Millisecond), f.rto(st.Test.JobID))
	f.cleanup(web.name, "raw", dirs["raw"])

	// Bad input: clear errors, exit 1, nothing changed.
	f.refused(1, "osr: machine fo-web01 has no recovery point 0badc0de00\n", "failover", "test", "fo-web01", "--point", "0badc0de00", "--network", "isolated", "--target", "raw")
	f.refused(1, "osr: machine fo-web01 has no recovery point at or before 2020-01-01T00:00:00Z\n", "failover", "run", "fo-web01", "--point", "2020-01-01T00:00:00Z", "--target", "raw")
	f.refused(1, "osr: machine db02 is not protected\n", "failover", "test", "db02", "--network", "isolated", "--target", "raw")
	f.refused(1, "osr: machine db02 is not protected\n", "failover", "run", "db02", "--target", "raw")
	f.refused(1, "osr: target nowhere does not exist\n", "failover", "test", "fo-web01", "--network", "isolated", "--target", "nowhere")

	// Planned failover during the workload. The agent is paused (SIGSTOP) while the request is
	// made, so that the operation is still running when a second one is tried.
	f.plannedFailover(web, wl, dirs["raw"], rec.PointID)

	f.bootCheck(root)
	t.Logf("failover flow %v", time.Since(begin).Round(time.Second))
}

// plannedFailover runs osr failover run --shutdown-source while the workload (manifest wl)
// writes, tries a second operation meanwhile, checks the disk with workload verify at the final
// point's capture time (after the command began),
// changes the point to older and back (each time the previous point's disks go), then commits
// and completes the migration.
func (f *foFlow) plannedFailover(m *machine, wl, dir, older string) {
	t := f.t
	began := time.Now()
	acked := doneOps(t, wl, began)
	if acked < 20 {
		t.Fatalf("the workload had completed only %d operations before the planned failover", acked)
	}
	if err := syscall.Kill(m.agent.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(m.agent.Pid(), syscall.SIGCONT)
		}
	}
	defer resume()
	var op failover.Operation
	decode(t, f.must("failover", "run", m.name, "--shutdown-source", "--target", "raw", "--no-wait", "--json"), &op)
	if op.Job == nil || op.Failover == nil || op.Failover.State != failover.RecordRunning || !op.Failover.ShutdownSource || op.Failover.PointRef != failover.PointLatest {
		t.Fatalf("planned failover started as %+v", op)
	}
	// The failover's job asks the configuration server for the final sync (a job of its own) and
	// waits: the agent is paused.
	waitFor(t, 20*time.Second, "the final sync's request", func() (bool, string) {
		ids := f.jobIDs()
		return strings.Contains(ids, "=final-sync-shutdown:running"), ids
	})
	busy := fmt.Sprintf("osr: machine %s has a failover running (job %s): wait for it to end\n", m.name, op.Job.ID)
	f.refused(1, busy, "failover", "test", m.name, "--network", "isolated", "--target", "raw")
	f.refused(1, busy, "failover", "run", m.name, "--target", "raw")
	f.refused(1, busy, "failover", "commit", m.name)
	resume()
	j := f.waitJob(op.Job.ID, 3*time.Minute)
	if j.State != vault.JobSucceeded {
		t.Fatalf("planned failover job %s %s: %s", j.ID, j.State, j.Error)
	}
	st := f.status(m.name)
	rec := st.Failover
	if st.ItemState != vault.StateFailedOver || rec == nil || rec.State != failover.RecordSucceeded || rec.Result == nil || len(rec.Result.Disks) != 1 || st.Test != nil {
		t.Fatalf("failover status after the planned failover: %+v", st)
	}
	hook, err := os.ReadFile(m.hookLog)
	if err != nil || !strings.HasPrefix(string(hook), "shutdown "+m.name+" ") {
		t.Fatalf("the shutdown hook did not run before the final sync: %q %v", hook, err)
	}
	if !m.agent.LogHas("replication stopped after a final sync with shutdown") {
		t.Fatal("the agent did not stop replicating after the final sync with shutdown")
	}
	exp := f.export(rec.PointID, m.name, "sda")
	checkImage(t, exp, rec.Result.Disks[0], "raw", 128<<20)
	// The final sync's point is captured after the command began: verified at its capture time,
	// every operation the workload completed before the command began is in it.
	if !rec.PointTime.After(began) {
		t.Fatalf("the planned failover's point %s was captured at %s, before the command began (%s)", rec.PointID[:12], rec.PointTime, began)
	}
	sum := checkExt4(t, rec.Result.Disks[0], wl, *rec.PointTime, f.slack(m.name, rec.PointID))
	t.Logf("planned failover at point %s (captured %v after the command began; %d workload operations done before it): fsck clean, %s; RTO %s (job %s)",
		rec.PointID[:12], rec.PointTime.Sub(began).Round(time.Millisecond), acked, sum, f.rto(op.Job.ID), op.Job.ID)
	f.checkDefinition(rec, m.name, "dr-net")

	// Change of recovery point before commit, to an older point and back.
	final := rec
	for _, p := range []string{older, final.PointID} {
		f.okPrefix("failover of "+m.name+" at point "+p[:12]+" (", "failover", "change-point", m.name, "--point", p)
		st := f.status(m.name)
		if st.ItemState != vault.StateFailedOver || st.Failover.PointID != p || st.Failover.State != failover.RecordSucceeded {
			t.Fatalf("status after the change to point %s: item %s, record %+v", p[:12], st.ItemState, st.Failover)
		}
		checkImage(t, f.export(p, m.name, "sda"), st.Failover.Result.Disks[0], "raw", 128<<20)
		if got := dirEntries(t, dir); !sameDir(got, st.Failover.Result.Location, dir) {
			t.Fatalf("target directory after the change to point %s holds more than the machine at %s: %v", p[:12], st.Failover.Result.Location, got)
		}
		t.Logf("change of point to %s: RTO %s", p[:12], f.rto(st.Failover.JobID))
		rec = st.Failover
	}
	checkExt4(t, rec.Result.Disks[0], wl, *rec.PointTime, f.slack(m.name, rec.PointID))

	pt := rec.PointID[:12]
	f.ok("failover of "+m.name+" at point "+pt+" committed\n", "failover", "commit", m.name)
	if st := f.status(m.name); st.ItemState != vault.StateCommitted || st.Failover.State != failover.RecordCommitted {
		t.Fatalf("status after commit: item %s, record %s", st.ItemState, st.Failover.State)
	}
	f.refused(1, "osr: the failover of machine fo-web01 is committed: its recovery point can no longer change\n",
		"failover", "change-point", m.name, "--point", "latest-processed")
	f.ok("failover of "+m.name+" at point "+pt+" migration-completed\n", "migration", "complete", m.name)
	if st := f.status(m.name); st.ItemState != vault.StateMigrationCompleted || st.Failover.State != failover.RecordMigrationCompleted {
		t.Fatalf("status after migration complete: item %s, record %s", st.ItemState, st.Failover.State)
	}
	// The target machine stays: its disk and definition.
	for _, p := range []string{rec.Result.Disks[0], rec.Result.DefinitionFile} {
		if _, err := os.Stat(p); err != nil || filepath.Dir(p) != rec.Result.Location || !strings.HasPrefix(p, dir+"/") {
			t.Fatalf("after migration complete: %v (location %s)", err, rec.Result.Location)
		}
	}
}

// requireCommands fails, saying what to wire, unless the binary has the failover commands.
func requireCommands(t *testing.T) {
	t.Helper()
	for _, c := range []struct{ cmd, where string }{
		{"failover test", "a.failoverCommands() among the areas of rootCommand in cmd/osr/main.go"},
		{"network-mapping add", "a.failoverCommands() among the areas of rootCommand in cmd/osr/main.go"},
		{"migration complete", "a.failoverCommands() among the areas of rootCommand in cmd/osr/main.go"},
		{"plan test", "a.addPlanCommands(root) after the areas in cmd/osr/main.go's rootCommand"},
	} {
		out, code := osr(t, nil, append(strings.Fields(c.cmd), "--help")...)
		if code != 0 || !strings.Contains(out, "osr "+c.cmd+" ") {
			t.Fatalf("osr %s is not in the binary (register it: %s):\n%s", c.cmd, c.where, out)
		}
	}
	if out, _ := osr(t, nil, "plan", "test", "--help"); !strings.Contains(out, "--verify-boot") {
		t.Fatalf("osr plan test has no --verify-boot:\n%s", out)
	}
}

// status returns osr failover status MACHINE.
func (f *foFlow) status(machine string) failover.Status {
	var st failover.Status
	decode(f.t, f.must("failover", "status", machine, "--json"), &st)
	return st
}

// testFailover runs a test failover to target at point and returns the status after it.
func (f *foFlow) testFailover(machine, point, target string) failover.Status {
	t := f.t
	t.Helper()
	out := stripProgress(f.must("failover", "test", machine, "--point", point, "--network", "isolated", "--target", target))
	st := f.status(machine)
	rec := st.Test
	if st.ItemState != vault.StateProtected || rec == nil || rec.State != failover.RecordSucceeded || rec.Result == nil || len(rec.Result.Disks) != 1 || rec.PointTime == nil {
		t.Fatalf("status after the test failover to %s: %+v", target, st)
	}
	want := fmt.Sprintf("test failover of %s at point %s (%s) on target %s: 1 disks, ", machine, rec.PointID[:12], rec.PointTime.UTC().Format(time.RFC3339), target)
	if !strings.HasPrefix(out, want) {
		t.Fatalf("osr failover test printed %q, want it to begin with %q", out, want)
	}
	if !strings.HasPrefix(point, "latest") && !strings.HasPrefix(rec.PointID, point) {
		t.Fatalf("test failover at point %s used point %s", point, rec.PointID)
	}
	return st
}

// cleanup removes the test failover and checks that its target directory holds nothing.
func (f *foFlow) cleanup(machine, target, dir string) {
	f.t.Helper()
	f.ok("test failover of "+machine+" removed from target "+target+"\n", "failover", "cleanup", machine)
	if got := dirEntries(f.t, dir); len(got) != 0 {
		f.t.Fatalf("target %s's directory %s after cleanup: %v", target, dir, got)
	}
	if st := f.status(machine); st.Test != nil || st.ItemState != vault.StateProtected {
		f.t.Fatalf("status after cleanup: %+v", st)
	}
}

// checkDefinition reads the machine definition the target wrote.
func (f *foFlow) checkDefinition(rec *failover.Record, name, network string) {
	t := f.t
	t.Helper()
	var def struct {
		Name    string `json:"name"`
		PointID string `json:"point_id"`
		Disks   []struct {
			Name      string `json:"name"`
			SizeBytes int64  `json:"size_bytes"`
			File      string `json:"file"`
		} `json:"disks"`
		NICs []struct {
			Network string `json:"network"`
		} `json:"nics"`
	}
	b, err := os.ReadFile(rec.Result.DefinitionFile)
	if err != nil {
		t.Fatalf("machine definition: %v", err)
	}
	decode(t, string(b), &def)
	if def.Name != name || def.PointID != rec.PointID || len(def.Disks) != 1 || def.Disks[0].Name != "sda" || def.Disks[0].SizeBytes != 128<<20 ||
		filepath.Base(def.Disks[0].File) != filepath.Base(rec.Result.Disks[0]) || len(def.NICs) != 1 || def.NICs[0].Network != network {
		t.Fatalf("machine definition %s:\n%s", rec.Result.DefinitionFile, b)
	}
}

// rto is a job's time from its start to its end (disks and definition ready).
func (f *foFlow) rto(jobID string) time.Duration {
	var j vault.Job
	decode(f.t, f.must("jobs", "show", jobID, "--json"), &j)
	if j.Ended == nil {
		f.t.Fatalf("job %s has not ended", jobID)
	}
	return j.Ended.Sub(j.Started).Round(time.Millisecond)
}

// waitJob waits for a job to end and returns it.
func (f *foFlow) waitJob(id string, timeout time.Duration) vault.Job {
	var j vault.Job
	waitFor(f.t, timeout, "job "+id+" to end", func() (bool, string) {
		decode(f.t, f.must("jobs", "show", id, "--json"), &j)
		return j.State != vault.JobRunning, fmt.Sprintf("%s %.1f%%", j.State, j.Progress)
	})
	return j
}

// waitNewPoint waits for a complete recovery point of machine captured after after.
func (f *foFlow) waitNewPoint(machine string, after time.Time) {
	d := waitFor(f.t, 90*time.Second, "a recovery point of "+machine+" captured after "+after.Format("15:04:05.000"), func() (bool, string) {
		var pts []struct {
			ID   string    `json:"id"`
			Time time.Time `json:"time"`
		}
		decode(f.t, f.must("recovery-points", "list", machine, "--json"), &pts)
		sort.Slice(pts, func(i, j int) bool { return pts[i].Time.After(pts[j].Time) })
		if len(pts) > 0 && pts[0].Time.After(after) {
			return true, ""
		}
		return false, fmt.Sprintf("%d points, newest %v", len(pts), pts)
	})
	f.t.Logf("a point of %s captured after %s came %v later", machine, after.Format("15:04:05.000"), d.Round(100*time.Millisecond))
}

// ports of osr up.
func upArgs(dir string, port []int) []string {
	return []string{"up", "--data-dir", dir, "--listen", "127.0.0.1:" + strconv.Itoa(port[0]),
		"--api-port", strconv.Itoa(port[1]), "--ps-port", strconv.Itoa(port[2]), "--health-listen", "127.0.0.1:" + strconv.Itoa(port[3])}
}

// sameDir reports whether every entry of a target directory (relative names) is under the
// machine directory loc.
func sameDir(entries []string, loc, dir string) bool {
	rel, err := filepath.Rel(dir, loc)
	if err != nil || len(entries) == 0 {
		return false
	}
	for _, e := range entries {
		if e != rel && !strings.HasPrefix(e, rel+"/") {
			return false
		}
	}
	return true
}

// slack is how long after its capture a point of machine was committed (recovery-points list):
// workload operations begun meanwhile may show in it (workload verify --slack).
func (f *foFlow) slack(machine, id string) time.Duration {
	var pts []struct {
		ID        string    `json:"id"`
		Time      time.Time `json:"time"`
		Committed time.Time `json:"committed"`
	}
	decode(f.t, f.must("recovery-points", "list", machine, "--json"), &pts)
	for _, p := range pts {
		if p.ID == id {
			return max(p.Committed.Sub(p.Time), 0)
		}
	}
	f.t.Fatalf("point %s of %s is not among its recovery points", id, machine)
	return 0
}
