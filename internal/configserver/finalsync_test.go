package configserver

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver/vaultlink"
)

// fsServer is a configuration server's registry with one process server ps1 and the agent of
// web01 assigned to it, without the network.
func fsServer(t *testing.T) (*Server, *clock.Fake) {
	t.Helper()
	c := clock.NewFake(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	reg, err := OpenRegistry(filepath.Join(t.TempDir(), StateFile), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.AddProcessServer(ProcessServerRecord{Name: "ps1", Address: "127.0.0.1:9443"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.AddAgent(AgentRecord{Machine: "web01"}); err != nil {
		t.Fatal(err)
	}
	return &Server{cfg: Config{Clock: c}, reg: &Registration{Name: "cs1"}, registry: reg}, c
}

func serve(s *Server, ctx context.Context, r vaultlink.Request) <-chan vaultlink.RequestReport {
	ch := make(chan vaultlink.RequestReport, 1)
	go func() {
		if r.Kind == vaultlink.RequestFinalSync {
			ch <- s.serveFinalSync(ctx, r)
		} else {
			ch <- s.serveLatestReceived(ctx, r)
		}
	}()
	return ch
}

func got(t *testing.T, ch <-chan vaultlink.RequestReport) vaultlink.RequestReport {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
	}
	return vaultlink.RequestReport{}
}

// A final sync order reaches the agent's configuration (with a new version), the agent's report
// of that ID ends it, a report of another ID does not, and the order is withdrawn afterwards.
func TestServeFinalSync(t *testing.T) {
	s, _ := fsServer(t)
	reg := s.registry
	reg.BeatAgent("web01", AgentHeartbeat{})
	v0, _ := reg.ConfigVersion()
	ch := serve(s, context.Background(), vaultlink.Request{ID: "job-1", Kind: vaultlink.RequestFinalSync, Machine: "web01", Shutdown: true, TimeoutSeconds: 60})
	var ac AgentConfig
	waitFor(t, "the order in the agent's configuration", func() bool {
		ac, _ = reg.AgentConfig("web01")
		return ac.FinalSync != nil
	})
	if *ac.FinalSync != (FinalSyncOrder{ID: "job-1", Shutdown: true, TimeoutSeconds: 60}) || ac.Version == v0 {
		t.Fatalf("agent configuration %+v (version was %d)", ac, v0)
	}
	reg.BeatAgent("web01", AgentHeartbeat{FinalSync: &FinalSyncReport{ID: "job-0", State: FinalSyncSucceeded, PointID: "old"}}) // a stale report
	reg.BeatAgent("web01", AgentHeartbeat{FinalSync: &FinalSyncReport{ID: "job-1", State: FinalSyncRunning}})
	select {
	case r := <-ch:
		t.Fatalf("ended on a stale or running report: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	reg.BeatAgent("web01", AgentHeartbeat{FinalSync: &FinalSyncReport{ID: "job-1", State: FinalSyncSucceeded, PointID: "p1", Seq: 9}})
	if r := got(t, ch); r != (vaultlink.RequestReport{State: "succeeded", PointID: "p1", Seq: 9}) {
		t.Fatalf("report %+v", r)
	}
	if ac, _ := reg.AgentConfig("web01"); ac.FinalSync != nil {
		t.Fatalf("order not withdrawn: %+v", ac.FinalSync)
	}
	// The agent's failure is passed on as it said it.
	ch = serve(s, context.Background(), vaultlink.Request{ID: "job-2", Kind: vaultlink.RequestFinalSync, Machine: "web01", TimeoutSeconds: 60})
	waitFor(t, "the second order", func() bool { ac, _ := reg.AgentConfig("web01"); return ac.FinalSync != nil })
	reg.BeatAgent("web01", AgentHeartbeat{FinalSync: &FinalSyncReport{ID: "job-2", State: FinalSyncFailed, Error: "shutdown hook exited with code 4"}})
	if r := got(t, ch); r != (vaultlink.RequestReport{State: "failed", Error: "shutdown hook exited with code 4"}) {
		t.Fatalf("report %+v", r)
	}
	// Bounded by its time.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if r := got(t, serve(s, ctx, vaultlink.Request{ID: "job-3", Kind: vaultlink.RequestFinalSync, Machine: "web01", TimeoutSeconds: 1})); r.Error != "the mobility agent of web01 did not end the final sync within 1s" {
		t.Fatalf("timed out: %+v", r)
	}
}

func TestServeRequestRefusals(t *testing.T) {
	s, c := fsServer(t)
	for _, tc := range []struct {
		name string
		prep func()
		req  vaultlink.Request
		want string
	}{
		{"unknown machine", nil, vaultlink.Request{Kind: vaultlink.RequestFinalSync, Machine: "db01"}, "machine db01 has no mobility agent enrolled with configuration server cs1"},
		{"no heartbeat", nil, vaultlink.Request{Kind: vaultlink.RequestFinalSync, Machine: "web01"}, "the mobility agent of web01 has sent no heartbeat since configuration server cs1 started"},
		{"late agent", func() { s.registry.BeatAgent("web01", AgentHeartbeat{}); c.Advance(100 * time.Second) },
			vaultlink.Request{Kind: vaultlink.RequestFinalSync, Machine: "web01"}, "the mobility agent of web01 is disconnected (no heartbeat for 1m40s)"},
		{"latest: unknown machine", nil, vaultlink.Request{Kind: vaultlink.RequestLatestReceived, Machine: "db01"}, "machine db01 has no mobility agent enrolled with configuration server cs1"},
		{"latest: no process server heartbeat", nil, vaultlink.Request{Kind: vaultlink.RequestLatestReceived, Machine: "web01"}, "process server ps1 has sent no heartbeat since configuration server cs1 started"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.prep != nil {
				tc.prep()
			}
			tc.req.ID, tc.req.TimeoutSeconds = "job-x", 60
			if r := got(t, serve(s, context.Background(), tc.req)); r != (vaultlink.RequestReport{State: "failed", Error: tc.want}) {
				t.Fatalf("got %+v, want %q", r, tc.want)
			}
		})
	}
}

// Latest received: the durable seq is read from the second heartbeat after the request (the
// first may carry a health document read before it), and the answer waits for its commit.
func TestServeLatestReceived(t *testing.T) {
	s, _ := fsServer(t)
	beat := func(durable, committed uint64, point string) {
		s.registry.BeatPS("ps1", PSHealth{Drain: []PSDrain{{Machine: "web01", DurableSeq: durable, CommittedSeq: committed, CommittedPoint: point}}})
	}
	beat(3, 3, "p3")
	ch := serve(s, context.Background(), vaultlink.Request{ID: "job-1", Kind: vaultlink.RequestLatestReceived, Machine: "web01", TimeoutSeconds: 60})
	time.Sleep(50 * time.Millisecond) // the request has read the heartbeat count
	beat(3, 3, "p3")                  // read before the request: must not answer it
	beat(5, 3, "p3")                  // after: seq 5 is acknowledged
	beat(6, 4, "p4")
	select {
	case r := <-ch:
		t.Fatalf("answered before seq 5 was committed: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	beat(6, 5, "p5")
	if r := got(t, ch); r != (vaultlink.RequestReport{State: "succeeded", PointID: "p5", Seq: 5}) {
		t.Fatalf("report %+v", r)
	}
	// A process server that does not list the machine holds nothing of it: succeeded, no point.
	ch = serve(s, context.Background(), vaultlink.Request{ID: "job-2", Kind: vaultlink.RequestLatestReceived, Machine: "web01", TimeoutSeconds: 60})
	time.Sleep(50 * time.Millisecond)
	for range 2 {
		s.registry.BeatPS("ps1", PSHealth{})
	}
	if r := got(t, ch); r != (vaultlink.RequestReport{State: "succeeded"}) {
		t.Fatalf("report %+v", r)
	}
}

// AgentFinalSyncs runs each request ID once, ignores repeated and stale orders, bounds the run by
// the order's timeout and reports failures with the agent's message.
func TestAgentFinalSyncs(t *testing.T) {
	var mu sync.Mutex
	runs := map[bool]int{}
	release := make(chan struct{})
	kicks := make(chan struct{}, 16)
	f := NewAgentFinalSyncs(func(ctx context.Context, shutdown bool) (string, uint64, error) {
		mu.Lock()
		runs[shutdown]++
		mu.Unlock()
		if shutdown {
			<-ctx.Done()
			return "", 0, errors.New("shutdown hook timed out after 1m0s")
		}
		<-release
		return "p7", 7, nil
	}, func() { kicks <- struct{}{} })
	if f.Report() != nil {
		t.Fatal("a report before any order")
	}
	ctx := context.Background()
	o := &FinalSyncOrder{ID: "job-1", TimeoutSeconds: 60}
	f.Handle(ctx, o)
	f.Handle(ctx, o) // the configuration fetched again
	if r := f.Report(); *r != (FinalSyncReport{ID: "job-1", State: FinalSyncRunning}) {
		t.Fatalf("report %+v", r)
	}
	close(release)
	waitFor(t, "the result", func() bool { return f.Report().State == FinalSyncSucceeded })
	if r := f.Report(); *r != (FinalSyncReport{ID: "job-1", State: FinalSyncSucceeded, PointID: "p7", Seq: 7}) {
		t.Fatalf("report %+v", r)
	}
	f.Handle(ctx, &FinalSyncOrder{ID: "job-2", Shutdown: true, TimeoutSeconds: 1})
	f.Handle(ctx, o) // stale: job-1 ran already
	waitFor(t, "the timeout", func() bool { return f.Report().State == FinalSyncFailed })
	if r := f.Report(); *r != (FinalSyncReport{ID: "job-2", State: FinalSyncFailed, Error: "shutdown hook timed out after 1m0s"}) {
		t.Fatalf("report %+v", r)
	}
	f.Handle(ctx, nil)
	mu.Lock()
	defer mu.Unlock()
	if runs[false] != 1 || runs[true] != 1 || len(kicks) < 3 {
		t.Fatalf("runs %v, kicks %d", runs, len(kicks))
	}
}

// The JSON of an agent configuration with an order and of a heartbeat with a report.
func TestFinalSyncJSON(t *testing.T) {
	b, _ := json.Marshal(AgentConfig{Machine: "web01", FinalSync: &FinalSyncOrder{ID: "job-1", Shutdown: true, TimeoutSeconds: 900}})
	var back struct {
		FinalSync map[string]any `json:"final_sync"`
	}
	json.Unmarshal(b, &back)
	if back.FinalSync["id"] != "job-1" || back.FinalSync["shutdown"] != true || back.FinalSync["timeout_seconds"] != 900.0 {
		t.Fatalf("agent configuration JSON %s", b)
	}
	var hb AgentHeartbeat
	if err := json.Unmarshal([]byte(`{"final_sync":{"id":"job-1","state":"succeeded","point_id":"p1","seq":4}}`), &hb); err != nil ||
		*hb.FinalSync != (FinalSyncReport{ID: "job-1", State: "succeeded", PointID: "p1", Seq: 4}) {
		t.Fatalf("heartbeat %+v %v", hb.FinalSync, err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
