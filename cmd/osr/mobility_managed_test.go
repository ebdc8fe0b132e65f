package main

import (
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/mobility"
)

func TestAgentReport(t *testing.T) {
	capture := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		st        mobility.Status
		state     string
		withPoint bool
	}{
		{"initial replication", mobility.Status{State: mobility.StateInitialReplication, InitialPercent: 42}, "initial-replication", false},
		{"protected", mobility.Status{State: mobility.StateProtected, InitialPercent: 100, PointID: "p1", CaptureTime: capture}, "protected", true},
		{"resynchronising", mobility.Status{State: mobility.StateResynchronising, InitialPercent: 100, PointID: "p1", CaptureTime: capture}, "resynchronising", true},
		{"disconnected after the initial replication", mobility.Status{State: mobility.StateDisconnected, InitialPercent: 100, PointID: "p1", CaptureTime: capture, LastError: "dial: refused"}, "protected", true},
		{"disconnected during the initial replication", mobility.Status{State: mobility.StateDisconnected, InitialPercent: 10}, "initial-replication", false},
		{"starting, nothing sent", mobility.Status{State: mobility.StateStarting}, "enabling", false},
		{"protected without a point is not protected", mobility.Status{State: mobility.StateProtected, InitialPercent: 100}, "initial-replication", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hb := agentReport(configserver.AgentHeartbeat{Version: "v"}, tc.st)
			if hb.State != tc.state {
				t.Errorf("state %q, want %q", hb.State, tc.state)
			}
			if (hb.LastPointTime != nil) != tc.withPoint || (tc.withPoint && !hb.LastPointTime.Equal(capture)) {
				t.Errorf("last point time %v, want one: %v", hb.LastPointTime, tc.withPoint)
			}
			if hb.LastPointID != tc.st.PointID || hb.Error != tc.st.LastError || hb.InitialPercent != tc.st.InitialPercent || hb.Version != "v" {
				t.Errorf("report %+v does not carry the status %+v", hb, tc.st)
			}
		})
	}
}
