package failover

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/opensiterecovery/osr/internal/vault"
)

// TestTestFailoverAndCleanup: a test failover writes the point's disks and definition on the
// test network while the item stays protected and replicated; cleanup removes all of it.
func TestTestFailoverAndCleanup(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		p3 := e.last["web01"].ID
		op := e.startOp("web01/failover/test", TestRequest{})
		if op.Job.Kind != JobTestFailover || op.Failover.State != RecordRunning || op.Failover.Kind != KindTest {
			t.Fatalf("operation %+v %+v", op.Job, op.Failover)
		}
		j := e.waitJob(op.Job.ID)
		if j.State != vault.JobSucceeded || j.Progress != 100 || j.CreatedBy != "operator1" {
			t.Fatalf("job %+v", j)
		}
		st := e.status("web01")
		rec := st.Test
		if rec == nil || rec.State != RecordSucceeded || rec.PointID != p3 || st.Running != nil || st.ItemState != vault.StateProtected {
			t.Fatalf("status %+v test %+v", st, rec)
		}
		if rec.BytesDone != diskA+diskB || rec.BytesTotal != diskA+diskB {
			t.Fatalf("bytes %d/%d", rec.BytesDone, rec.BytesTotal)
		}
		d := rec.Definition
		if d.Name != "web01-test" || !d.Test || d.CPUs != 4 || d.MemoryMB != 8192 || d.OS != "linux" || d.Firmware != "bios" || d.PointID != p3 {
			t.Fatalf("definition %+v", d)
		}
		if len(d.Disks) != 2 || d.Disks[0].Name != "sdb" || d.Disks[1].Name != "sda" {
			t.Fatalf("disks in inventory order: %+v", d.Disks)
		}
		want := "eth0 52:54:00:12:34:56 prod-net test-net keep 10.0.0.21/24 10.0.0.1"
		if n := d.NICs; len(n) != 1 || strings.Join([]string{n[0].Name, n[0].MAC, n[0].SourceNetwork, n[0].Network, n[0].IPMode, n[0].Address, n[0].Gateway}, " ") != want {
			t.Fatalf("nics %+v", d.NICs)
		}
		e.checkDisks(rec.Result, rec.Definition, p3)
		if j.Result != "test failover of web01 at point "+short(p3)+" (2026-12-01T11:00:00Z) on target local1: 2 disks, "+itoa(rec.Result.BytesWritten)+" bytes written, "+itoa(rec.Result.BytesSkipped)+" bytes skipped as zeros" {
			t.Fatalf("job result %q", j.Result)
		}
		// Replication goes on.
		if got := e.desired(); !slices.Contains(got, "web01") {
			t.Fatalf("desired state %v lost web01", got)
		}
		e.expectError("POST", "/vaults/lab/protected-items/web01/failover/test", e.op(), TestRequest{}, 409,
			"machine web01 has a test failover already (point "+short(p3)+" on target local1): clean it up first (osr failover cleanup web01)")

		c := e.startOp("web01/failover/test/cleanup", nil)
		if cj := e.waitJob(c.Job.ID); cj.State != vault.JobSucceeded || cj.Result != "test failover of web01 removed from target local1" {
			t.Fatalf("cleanup job %+v", cj)
		}
		if _, err := os.Stat(rec.Result.Location); !os.IsNotExist(err) {
			t.Fatalf("run directory left behind: %v", err)
		}
		left, _ := os.ReadDir(e.out)
		if len(left) != 0 {
			t.Fatalf("target directory holds %v after cleanup", left)
		}
		if st := e.status("web01"); st.Test != nil || st.ItemState != vault.StateProtected {
			t.Fatalf("status after cleanup %+v", st)
		}
		e.expectError("POST", "/vaults/lab/protected-items/web01/failover/test/cleanup", e.op(), nil, 404, "machine web01 has no test failover")
		// The next points keep coming and can be tested again.
		p5 := e.commitPoint("web01", "crash", e.clk.Now(), "after the test")
		op = e.startOp("web01/failover/test", TestRequest{Network: "isolated-2"})
		e.waitJob(op.Job.ID)
		st = e.status("web01")
		if st.Test.PointID != p5 || st.Test.Definition.NICs[0].Network != "isolated-2" {
			t.Fatalf("second test %+v", st.Test)
		}
		e.checkDisks(st.Test.Result, st.Test.Definition, p5)
	})
}

// TestFailoverChangePointCommitComplete walks a failover through change of point, commit and
// migration completion.
func TestFailoverChangePointCommitComplete(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		pts := e.pointIDs()
		p1, p2 := pts[0], pts[1]
		op := e.startOp("web01/failover/run", FailoverRequest{Point: p1[:10]})
		if j := e.waitJob(op.Job.ID); j.State != vault.JobSucceeded || j.Kind != JobFailover {
			t.Fatalf("job %+v", j)
		}
		st := e.status("web01")
		if st.ItemState != vault.StateFailedOver || st.Failover.State != RecordSucceeded || st.Failover.PointID != p1 || st.Failover.PointRef != p1[:10] {
			t.Fatalf("status %+v %+v", st, st.Failover)
		}
		if n := st.Failover.Definition.NICs[0]; n.Network != "dr-net" || st.Failover.Definition.Name != "web01" || st.Failover.Definition.Test {
			t.Fatalf("definition %+v", st.Failover.Definition)
		}
		e.checkDisks(st.Failover.Result, st.Failover.Definition, p1)
		if got := e.desired(); slices.Contains(got, "web01") {
			t.Fatalf("replication of web01 goes on after failover: %v", got)
		}
		first := st.Failover.Result.Location

		op = e.startOp("web01/failover/change-point", ChangePointRequest{Point: "latest-app-consistent"})
		if j := e.waitJob(op.Job.ID); j.State != vault.JobSucceeded || j.Kind != JobChangePoint {
			t.Fatalf("change-point job %+v", j)
		}
		st = e.status("web01")
		if st.Failover.PointID != p2 || st.ItemState != vault.StateFailedOver || st.Failover.State != RecordSucceeded {
			t.Fatalf("after change-point %+v", st.Failover)
		}
		e.checkDisks(st.Failover.Result, st.Failover.Definition, p2)
		if _, err := os.Stat(first); !os.IsNotExist(err) {
			t.Fatalf("the previous point's disks are still there: %v", err)
		}
		e.expectError("POST", "/vaults/lab/protected-items/web01/failover/change-point", e.op(), ChangePointRequest{Point: p2}, 409,
			"machine web01 is failed over at point "+short(p2)+" already")

		var c Operation
		e.decode(e.mustDo("POST", "/vaults/lab/protected-items/web01/failover/commit", e.op(), nil, 200), &c)
		if c.Job.State != vault.JobSucceeded || c.Job.Kind != JobCommit || c.Failover.State != RecordCommitted || e.itemState("web01") != vault.StateCommitted {
			t.Fatalf("commit %+v %+v", c.Job, c.Failover)
		}
		e.expectError("POST", "/vaults/lab/protected-items/web01/failover/change-point", e.op(), ChangePointRequest{Point: p1}, 409,
			"the failover of machine web01 is committed: its recovery point can no longer change")
		e.expectError("POST", "/vaults/lab/protected-items/web01/failover/commit", e.op(), nil, 409, "the failover of machine web01 is committed already")
		e.expectError("POST", "/vaults/lab/protected-items/web01/migration/complete", e.op(), CompleteMigrationRequest{RemoveAgent: true}, 501,
			"this vault service cannot remove agents: complete the migration without remove_agent and uninstall the agent on web01 (osr mobility uninstall)")

		e.decode(e.mustDo("POST", "/vaults/lab/protected-items/web01/migration/complete", e.op(), nil, 200), &c)
		if c.Job.Kind != JobCompleteMigration || c.Failover.State != RecordMigrationCompleted || e.itemState("web01") != vault.StateMigrationCompleted {
			t.Fatalf("complete %+v %+v", c.Job, c.Failover)
		}
		e.checkDisks(c.Failover.Result, c.Failover.Definition, p2) // the target is kept
		e.expectError("POST", "/vaults/lab/protected-items/web01/failover/test", e.op(), nil, 409,
			"machine web01 is migration-completed: a test failover needs a machine that is replicating")
		e.expectError("POST", "/vaults/lab/protected-items/web01/migration/complete", e.op(), nil, 409, "the migration of machine web01 is completed already")
		e.mustDo("DELETE", "/vaults/lab/targets/local1", e.tokens[vault.RoleOwner], nil, 204)
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
