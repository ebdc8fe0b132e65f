package main

import (
	"context"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver"
)

// A managed agent takes the final sync order from its configuration (once per ID) and reports it
// in its heartbeat; without a running data path the order fails with that reason.
func TestManagedFinalSyncOrder(t *testing.T) {
	m := &managedAgent{kick: make(chan struct{}, 1)}
	m.fs = m.finalSyncs()
	if hb, _ := m.heartbeat().(configserver.AgentHeartbeat); hb.FinalSync != nil {
		t.Fatalf("a report before any order: %+v", hb.FinalSync)
	}
	m.handleFinalSync(context.Background(), []byte(`{"version":3,"machine":"web01","final_sync":{"id":"job-1","shutdown":false,"timeout_seconds":60}}`))
	want := configserver.FinalSyncReport{ID: "job-1", State: configserver.FinalSyncFailed, Error: "replication is not running on this machine"}
	deadline := time.Now().Add(5 * time.Second)
	for {
		hb, _ := m.heartbeat().(configserver.AgentHeartbeat)
		if hb.FinalSync != nil && *hb.FinalSync == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heartbeat's final sync %+v, want %+v", hb.FinalSync, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-m.kick:
	default:
		t.Fatal("no heartbeat kicked for the report")
	}
	// A configuration without an order, or one that does not decode, changes nothing.
	m.handleFinalSync(context.Background(), []byte(`{"version":4}`))
	m.handleFinalSync(context.Background(), []byte(`{`))
	if hb, _ := m.heartbeat().(configserver.AgentHeartbeat); hb.FinalSync == nil || *hb.FinalSync != want {
		t.Fatalf("report after other configurations: %+v", hb.FinalSync)
	}
}
