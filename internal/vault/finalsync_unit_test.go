package vault

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// reachable refuses a request, with an exact reason, from the configuration server's newest
// heartbeat.
func TestRequestReachable(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	hb := func(agentSeen, psSeen time.Time, ps string) Heartbeat {
		return Heartbeat{Time: now, Agents: []AgentStatus{{Machine: "web01", ProcessServer: ps, LastSeen: agentSeen}},
			ProcessServers: []PSHealth{{Name: "ps1", LastSeen: psSeen}}}
	}
	for _, tc := range []struct {
		name    string
		hb      Heartbeat
		kind    string
		machine string
		want    string
	}{
		{"fresh agent", hb(now.Add(-30*time.Second), now, "ps1"), JobFinalSync, "web01", ""},
		{"not managed", hb(now, now, "ps1"), JobFinalSyncShutdown, "db01", "machine db01 has no mobility agent enrolled with configuration server cs1"},
		{"late agent", hb(now.Add(-3*time.Minute-500*time.Millisecond), now, "ps1"), JobFinalSync, "web01", "the mobility agent of web01 is disconnected (no heartbeat for 3m0s)"},
		{"agent never seen", hb(time.Time{}, now, "ps1"), JobFinalSync, "web01", "the mobility agent of web01 has sent no heartbeat since configuration server cs1 started"},
		{"latest: agent gone, process server fresh", hb(now.Add(-time.Hour), now, "ps1"), JobLatestReceived, "web01", ""},
		{"latest: late process server", hb(now, now.Add(-2*time.Minute), "ps1"), JobLatestReceived, "web01", "process server ps1 is disconnected (no heartbeat for 2m0s)"},
		{"latest: unknown process server", hb(now, now, "ps9"), JobLatestReceived, "web01", "process server ps9 has sent no heartbeat since configuration server cs1 started"},
		{"latest: none assigned", hb(now, now, ""), JobLatestReceived, "web01", "machine web01 has no process server assigned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := reachable(tc.hb, tc.kind, tc.machine, "cs1")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want || StatusOf(err) != http.StatusConflict):
				t.Fatalf("got %v, want %q (409)", err, tc.want)
			}
		})
	}
}

func TestRequestReportValidate(t *testing.T) {
	for _, tc := range []struct {
		r    RequestReport
		want string
	}{
		{RequestReport{State: "succeeded", PointID: "p1"}, ""},
		{RequestReport{State: "succeeded"}, ""}, // latest received from a process server that holds nothing
		{RequestReport{State: "failed", Error: "freeze failed"}, ""},
		{RequestReport{State: "running"}, `state must be succeeded or failed, got "running"`},
		{RequestReport{State: "failed"}, "a failed request needs an error and has no point_id"},
		{RequestReport{State: "failed", Error: "x", PointID: "p1"}, "a failed request needs an error and has no point_id"},
		{RequestReport{State: "succeeded", PointID: "p1", Error: "x"}, "a succeeded request has no error"},
	} {
		err := tc.r.validate()
		if (tc.want == "") != (err == nil) || (err != nil && (err.Error() != tc.want || StatusOf(err) != 400)) {
			t.Errorf("%+v: %v, want %q", tc.r, err, tc.want)
		}
	}
}

// FuzzRequestReport: a configuration server's report body decodes and validates, or fails with a
// 400; a valid one encodes back to what was read.
func FuzzRequestReport(f *testing.F) {
	for _, s := range []string{`{"state":"succeeded","point_id":"p1","seq":4}`, `{"state":"failed","error":"shutdown hook exited with code 4"}`,
		`{"state":"succeeded"}`, `{"state":"running"}`, `{"state":"failed","error":"x","point_id":"p"}`, `{"state":"succeeded","extra":1}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(b))
		var rep RequestReport
		err := decode(r, &rep)
		if err == nil {
			err = rep.validate()
		}
		if err != nil {
			if StatusOf(err) != 400 && StatusOf(err) != 413 {
				t.Fatalf("status %d for %q: %v", StatusOf(err), b, err)
			}
			return
		}
		if rep.State != JobSucceeded && rep.State != JobFailed || (rep.State == JobFailed) == (rep.Error == "") {
			t.Fatalf("accepted %+v", rep)
		}
	})
}
