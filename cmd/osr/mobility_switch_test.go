package main

import (
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/mobility"
)

func TestReportedError(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		st   mobility.Status
		want string
	}{
		{"none", mobility.Status{CaptureTime: at}, ""},
		{"before any point", mobility.Status{LastError: "dial: refused", LastErrorTime: at}, "dial: refused"},
		{"after the newest point", mobility.Status{LastError: "dial: refused", LastErrorTime: at, CaptureTime: at.Add(-time.Second)}, "dial: refused"},
		{"healed: a point captured after it", mobility.Status{LastError: "read: closed", LastErrorTime: at, CaptureTime: at.Add(time.Second)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := agentReport(configserver.AgentHeartbeat{}, tc.st).Error; got != tc.want {
				t.Errorf("error %q, want %q", got, tc.want)
			}
		})
	}
	connected := agentReport(configserver.AgentHeartbeat{}, mobility.Status{Connected: true})
	if connected.ProcessServerConnected == nil || !*connected.ProcessServerConnected {
		t.Errorf("the report does not say the agent is connected: %+v", connected)
	}
}
