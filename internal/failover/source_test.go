package failover

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/opensiterecovery/osr/internal/vault"
)

// TestPlannedFailover: the source's final sync comes first and the failover uses THAT point, so
// the last writes are in the target.
func TestPlannedFailover(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		op := e.startOp("web01/failover/run", FailoverRequest{ShutdownSource: true})
		if j := e.waitJob(op.Job.ID); j.State != vault.JobSucceeded {
			t.Fatalf("job %+v", j)
		}
		if want := []string{"final-sync lab web01 true"}; !slices.Equal(e.source.calls, want) {
			t.Fatalf("source calls %v, want %v", e.source.calls, want)
		}
		st := e.status("web01")
		final := e.last["web01"].ID
		if st.Failover.PointID != final || !st.Failover.ShutdownSource || st.Failover.PointRef != "latest" {
			t.Fatalf("failover at %s, want the final sync's %s: %+v", st.Failover.PointID, final, st.Failover)
		}
		e.checkDisks(st.Failover.Result, st.Failover.Definition, final)
		img, _ := readFile(st.Failover.Result.Disks[1]) // sda
		if !bytes.Contains(img, []byte("final sync")) {
			t.Fatal("the final sync's writes are not in the target disk")
		}
	})
}

// TestLatestPoint: "latest" commits what the process server received first.
func TestLatestPoint(t *testing.T) {
	e := newEnv(t, "sqlite")
	before := e.last["web01"].ID
	op := e.startOp("web01/failover/test", TestRequest{Point: "latest"})
	e.waitJob(op.Job.ID)
	st := e.status("web01")
	if st.Test.PointID == before || st.Test.PointID != e.last["web01"].ID || !slices.Equal(e.source.calls, []string{"latest-received lab web01"}) {
		t.Fatalf("latest resolved to %s (before %s, calls %v)", st.Test.PointID, before, e.source.calls)
	}
	if e.itemState("web01") != vault.StateProtected {
		t.Fatal("a test failover changed the item's state")
	}
}

// TestFinalSyncFails: the failover fails with the source's error, the item stays protected.
func TestFinalSyncFails(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.source.fail = errors.New("agent of web01 did not answer within 5m0s")
	op := e.startOp("web01/failover/run", FailoverRequest{ShutdownSource: true})
	j := e.waitJob(op.Job.ID)
	if j.State != vault.JobFailed || j.Error != "final sync of web01: agent of web01 did not answer within 5m0s" {
		t.Fatalf("job %+v", j)
	}
	if st := e.status("web01"); st.ItemState != vault.StateProtected || st.Failover.State != RecordFailed || st.Failover.PointID != "" || st.Running != nil {
		t.Fatalf("status %+v %+v", st, st.Failover)
	}
	if slices.Contains(e.desired(), "web01") == false {
		t.Fatal("replication stopped after a failed failover")
	}
	e.source.fail = nil
	op = e.startOp("web01/failover/run", FailoverRequest{ShutdownSource: true})
	if j := e.waitJob(op.Job.ID); j.State != vault.JobSucceeded {
		t.Fatalf("retry %+v", j)
	}
}

// TestPlannedRetryKeepsFinalSync: a planned failover whose disks failed after the final sync
// (the source is down now) is retried from that final sync's point, without syncing again.
func TestPlannedRetryKeepsFinalSync(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.mustDo("POST", "/vaults/lab/targets", e.tokens[vault.RoleOwner], AddTargetRequest{Name: "flaky", Provider: "flaky", Settings: map[string]string{"dir": e.out}}, 201)
	flaky.Store(true)
	defer flaky.Store(false)
	op := e.startOp("web01/failover/run", FailoverRequest{ShutdownSource: true, Target: "flaky"})
	if j := e.waitJob(op.Job.ID); j.State != vault.JobFailed {
		t.Fatalf("job %+v", j)
	}
	final := e.last["web01"].ID
	if st := e.status("web01"); st.Failover.PointID != final || st.ItemState != vault.StateProtected {
		t.Fatalf("after the failed attempt %+v", st.Failover)
	}
	flaky.Store(false)
	e.commitPoint("web01", "crash", e.clk.Now(), "written by nobody: the source is down") // must not be used
	op = e.startOp("web01/failover/run", FailoverRequest{ShutdownSource: true, Target: "flaky"})
	if j := e.waitJob(op.Job.ID); j.State != vault.JobSucceeded {
		t.Fatalf("retry %+v", j)
	}
	st := e.status("web01")
	if st.Failover.PointID != final || len(e.source.calls) != 1 || st.ItemState != vault.StateFailedOver {
		t.Fatalf("retry at %s (want the final sync's %s), source calls %v", st.Failover.PointID, final, e.source.calls)
	}
	e.checkDisks(st.Failover.Result, st.Failover.Definition, final)
}
