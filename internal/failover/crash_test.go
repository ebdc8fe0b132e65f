package failover

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/opensiterecovery/osr/internal/vault"
)

// TestRestartMidJob: the vault service stops while a failover writes (a new service on the same
// database, as after a restart): the job is failed at start, and retrying resumes the same run
// and succeeds; the old service's late outcome is dropped.
func TestRestartMidJob(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		e.mustDo("POST", "/vaults/lab/targets", e.tokens[vault.RoleOwner], AddTargetRequest{Name: "slow", Provider: "gated", Settings: map[string]string{"dir": e.out}}, 201)
		op := e.startOp("web01/failover/run", FailoverRequest{Target: "slow", Point: "latest-processed"})
		<-e.gate.entered
		oldStop := e.stop
		// The "restarted" service: same host and PID, another instance.
		e.gate = newGate()
		e.gate.open()
		e.start()
		host, _ := os.Hostname()
		j := e.waitJob(op.Job.ID)
		want := fmt.Sprintf("the vault service running it (pid %d on %s) restarted: run it again", os.Getpid(), host)
		if j.State != vault.JobFailed || j.Error != want {
			t.Fatalf("job after restart %+v\nwant error %q", j, want)
		}
		st := e.status("web01")
		if st.Running != nil || st.Failover.State != RecordFailed || st.Failover.Error != want || st.ItemState != vault.StateProtected {
			t.Fatalf("status after restart %+v %+v", st, st.Failover)
		}
		run := st.Failover.Run
		retry := e.startOp("web01/failover/run", FailoverRequest{Target: "slow", Point: "latest-processed"})
		if rj := e.waitJob(retry.Job.ID); rj.State != vault.JobSucceeded {
			t.Fatalf("retry %+v", rj)
		}
		st = e.status("web01")
		if st.Failover.Run != run || st.Failover.State != RecordSucceeded || st.ItemState != vault.StateFailedOver || st.Failover.ID != op.Failover.ID {
			t.Fatalf("retry did not resume run %s: %+v", run, st.Failover)
		}
		e.checkDisks(st.Failover.Result, st.Failover.Definition, st.Failover.PointID)
		oldStop() // its job wakes up, fails, and must not overwrite the outcome
		if st2 := e.status("web01"); st2.Failover.State != RecordSucceeded || st2.Failover.JobID != retry.Job.ID || st2.ItemState != vault.StateFailedOver {
			t.Fatalf("the old service overwrote the outcome: %+v", st2.Failover)
		}
		events, err := e.vs.ListEvents(t.Context(), e.vaultID, 100)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, ev := range events {
			found = found || (ev.Kind == "failover-interrupted" && ev.Message == "failover of web01 (job "+op.Job.ID+") was interrupted: "+want[:len(want)-len(": run it again")])
		}
		if !found {
			t.Fatalf("no failover-interrupted event in %+v", events)
		}
	})
}

// TestFailedRunRemoved: a test failover that failed half-way leaves partial disks; trying again
// at another point removes them first, and cleanup leaves the target directory empty.
func TestFailedRunRemoved(t *testing.T) {
	e := newEnv(t, "sqlite")
	pts := e.pointIDs()
	e.mustDo("POST", "/vaults/lab/targets", e.tokens[vault.RoleOwner], AddTargetRequest{Name: "flaky", Provider: "flaky", Settings: map[string]string{"dir": e.out}}, 201)
	flaky.Store(true)
	defer flaky.Store(false)
	op := e.startOp("web01/failover/test", TestRequest{Point: pts[0], Target: "flaky"})
	j := e.waitJob(op.Job.ID)
	if j.State != vault.JobFailed || !strings.HasSuffix(j.Error, "injected read error") {
		t.Fatalf("job %+v", j)
	}
	st := e.status("web01")
	if st.Test.State != RecordFailed || st.Test.Result != nil || st.Test.Definition == nil {
		t.Fatalf("failed record %+v", st.Test)
	}
	partial, _ := os.ReadDir(e.out)
	if len(partial) != 1 {
		t.Fatalf("want the partial run directory, have %v", partial)
	}
	flaky.Store(false)
	op = e.startOp("web01/failover/test", TestRequest{Point: pts[2], Target: "flaky"})
	if j := e.waitJob(op.Job.ID); j.State != vault.JobSucceeded {
		t.Fatalf("retry %+v", j)
	}
	st = e.status("web01")
	left, _ := os.ReadDir(e.out)
	if len(left) != 1 || left[0].Name() == partial[0].Name() || st.Test.PointID != pts[2] || st.Test.ID != op.Failover.ID {
		t.Fatalf("after the retry the target holds %v (partial was %s), record %+v", left, partial[0].Name(), st.Test)
	}
	e.checkDisks(st.Test.Result, st.Test.Definition, pts[2])
	c := e.startOp("web01/failover/test/cleanup", nil)
	e.waitJob(c.Job.ID)
	if left, _ := os.ReadDir(e.out); len(left) != 0 {
		t.Fatalf("cleanup left %v", left)
	}
}
