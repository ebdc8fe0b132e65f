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
