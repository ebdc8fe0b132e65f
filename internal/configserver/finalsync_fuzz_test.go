package configserver

import (
	"encoding/json"
	"testing"
)

// FuzzFinalSyncReport: an agent heartbeat's final sync report is kept only when it checks, and
// then exactly as sent; nothing panics.
func FuzzFinalSyncReport(f *testing.F) {
	f.Add([]byte(`{"final_sync":{"id":"job-1","state":"succeeded","point_id":"p1","seq":4}}`))
	f.Add([]byte(`{"final_sync":{"id":"job-1","state":"failed","error":"shutdown hook exited with code 4"}}`))
	f.Add([]byte(`{"final_sync":{"id":"job-1","state":"running"}}`))
	f.Add([]byte(`{"final_sync":{"id":"job-1","state":"succeeded"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var hb AgentHeartbeat
		if json.Unmarshal(b, &hb) != nil || hb.FinalSync == nil {
			return
		}
		var fs finalSyncs
		fs.agentBeat("web01", hb.FinalSync)
		r, ok := fs.report("web01", hb.FinalSync.ID)
		switch {
		case ok != hb.FinalSync.check():
			t.Fatalf("report %+v kept %v, checks %v", hb.FinalSync, ok, hb.FinalSync.check())
		case ok && r != *hb.FinalSync:
			t.Fatalf("kept %+v, sent %+v", r, *hb.FinalSync)
		case ok && (r.State == FinalSyncSucceeded) == (r.PointID == ""):
			t.Fatalf("kept %+v", r)
		}
	})
}

// FuzzPSHealthAnswer: a process server heartbeat answers a health ask exactly when its
// health_answer is at or above it, and its drain state is kept as sent; nothing panics.
func FuzzPSHealthAnswer(f *testing.F) {
	f.Add([]byte(`{"health_answer":57,"drain":[{"machine":"web01","durable_seq":14,"committed_seq":13,"committed_point":"9f2c"}]}`), int64(57))
	f.Add([]byte(`{"health_answer":56,"drain":[{"machine":"web01","durable_seq":14}]}`), int64(57))
	f.Add([]byte(`{"drain":[{"machine":"web01","durable_seq":1}]}`), int64(1))
	f.Add([]byte(`{"health_answer":-4}`), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, ask int64) {
		var h PSHealth
		if json.Unmarshal(b, &h) != nil {
			return
		}
		var fs finalSyncs
		fs.psBeat("ps1", h.Drain, h.HealthAnswer)
		d, listed, found := fs.answered("ps1", "web01", ask)
		want, wantListed := find(h.Drain, "web01")
		switch {
		case found != (ask > 0 && h.HealthAnswer >= ask):
			t.Fatalf("answer %d to ask %d: found %v", h.HealthAnswer, ask, found)
		case found && (listed != wantListed || d != want):
			t.Fatalf("kept %+v (listed %v), sent %+v (listed %v)", d, listed, want, wantListed)
		}
	})
}
