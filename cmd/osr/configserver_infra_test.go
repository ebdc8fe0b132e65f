package main

import (
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/vcenter"
)

// TestWriteInfrastructureVCenters: vCenters are listed beside process servers and agents, with the
// status and error of their last sync.
func TestWriteInfrastructureVCenters(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	synced := now.Add(-2 * time.Minute)
	inf := &configserver.Infrastructure{ConfigurationServers: []configserver.CSView{{
		Name: "cs1", Vault: "lab", Status: configserver.Connected, LastVault: &synced,
		VCenters: []vcenter.Summary{
			{Name: "vc1", Address: "vc1.example.net:443", Status: vcenter.Connected, LastSync: &synced, VMs: 42},
			{Name: "vc2", Address: "10.0.0.9:443", Status: vcenter.Disconnected, Reason: "vc2: login: bad credentials"},
		},
	}}}
	var b strings.Builder
	if err := writeInfrastructure(&b, inf, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines:\n%s", len(lines), b.String())
	}
	for i, want := range [][]string{
		2: {"vc1", "vCenter", "vc1.example.net:443", "Connected", "42 VMs"},
		3: {"vc2", "vCenter", "10.0.0.9:443", "Disconnected", "vc2: login: bad credentials; 0 VMs"},
	} {
		if want == nil {
			continue
		}
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
}
