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

func TestAgentDesired(t *testing.T) {
	base := &mobility.Config{Machine: "web01", ProcessServer: "ps1:9443", CrashConsistentInterval: 30 * time.Second, AppConsistentInterval: time.Hour}
	tests := []struct {
		name      string
		raw       string
		replicate bool
		want      agentSettings
		err       string
	}{
		{"not replicating", `{"version":3,"machine":"web01","process_server":"ps2:9443","replicate":false}`, false,
			agentSettings{ProcessServer: "ps2:9443", Crash: 30 * time.Second, AppCons: time.Hour}, ""},
		{"policy cadences", `{"machine":"web01","process_server":"ps2:9443","replicate":true,"policy":{"name":"gold","crash_consistent_frequency_seconds":300,"app_consistent_frequency_seconds":3600}}`, true,
			agentSettings{ProcessServer: "ps2:9443", Crash: 5 * time.Minute, AppCons: time.Hour}, ""},
		{"no process server assigned keeps the installed one", `{"machine":"web01","replicate":true}`, true,
			agentSettings{ProcessServer: "ps1:9443", Crash: 30 * time.Second, AppCons: time.Hour}, ""},
		{"app-consistent never more often than crash-consistent", `{"machine":"web01","replicate":true,"policy":{"crash_consistent_frequency_seconds":600,"app_consistent_frequency_seconds":60}}`, true,
			agentSettings{ProcessServer: "ps1:9443", Crash: 10 * time.Minute, AppCons: 10 * time.Minute}, ""},
		{"not json", `{"machine":`, false, agentSettings{}, "agent configuration: unexpected end of JSON input"},
		{"another machine", `{"machine":"db01","replicate":true}`, false, agentSettings{}, "agent configuration is for machine db01, not web01"},
		{"bad process server", `{"machine":"web01","process_server":"ps2","replicate":true}`, false, agentSettings{}, `agent configuration: process_server "ps2" is not host:port`},
		{"negative crash frequency", `{"machine":"web01","replicate":true,"policy":{"crash_consistent_frequency_seconds":-5}}`, false, agentSettings{},
			"agent configuration: crash_consistent_frequency_seconds -5 is not between 1 and 86400"},
		{"huge app frequency", `{"machine":"web01","replicate":true,"policy":{"app_consistent_frequency_seconds":9223372036854775807}}`, false, agentSettings{},
			"agent configuration: app_consistent_frequency_seconds 9223372036854775807 is not between 1 and 2592000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, got, err := agentDesired(base, []byte(tc.raw))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || rep != tc.replicate || got != tc.want {
				t.Fatalf("got %v %+v %v, want %v %+v", rep, got, err, tc.replicate, tc.want)
			}
		})
	}
}

// FuzzAgentDesired: any answer of a configuration server is refused with an error or gives
// settings the agent can run with.
func FuzzAgentDesired(f *testing.F) {
	f.Add([]byte(`{"version":7,"machine":"web01","process_server":"ps2:9443","process_server_name":"ps2","replicate":true,"policy":{"name":"gold","rpo_threshold_seconds":900,"retention_seconds":86400,"app_consistent_frequency_seconds":3600,"crash_consistent_frequency_seconds":300},"heartbeat_seconds":30}`))
	f.Add([]byte(`{"machine":"web01","replicate":false}`))
	base := &mobility.Config{Machine: "web01", ProcessServer: "ps1:9443", CrashConsistentInterval: 30 * time.Second, AppConsistentInterval: time.Hour}
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, s, err := agentDesired(base, raw)
		if err != nil {
			if s != (agentSettings{}) {
				t.Fatalf("error %v with settings %+v", err, s)
			}
			return
		}
		if s.Crash < time.Second || s.AppCons < s.Crash || s.ProcessServer == "" {
			t.Fatalf("settings the agent cannot run with: %+v", s)
		}
	})
}
