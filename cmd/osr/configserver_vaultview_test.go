package main

import (
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/vault"
)

func TestVaultViewStatuses(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := clock.NewFake(t0)
	cs := vault.ConfigServer{ID: "cs-1", Name: "cs1", LastHeartbeat: &t0, Heartbeat: vault.Heartbeat{
		ProcessServers: []vault.PSHealth{{Name: "ps1", Address: "10.0.0.5:9443", LastSeen: t0, CPUPercent: 10, CacheFreePercent: 26}},
		Agents:         []vault.AgentStatus{{Machine: "web01", ProcessServer: "ps1", LastSeen: t0}},
	}}
	type row struct{ cs, ps, agent configserver.Status }
	got := func() row {
		v := csViewFromVault(cs, "lab", c)
		return row{v.Status, v.ProcessServers[0].Status, v.Agents[0].Status}
	}
	for _, tc := range []struct {
		at   time.Duration
		want row
	}{
		{0, row{configserver.Connected, configserver.Warning, configserver.Connected}}, // cache 26% free
		{2 * time.Minute, row{configserver.Connected, configserver.Warning, configserver.Warning}},
		{3*time.Minute + time.Second, row{configserver.Disconnected, configserver.Disconnected, configserver.Disconnected}},
	} {
		c.Set(t0.Add(tc.at))
		if g := got(); g != tc.want {
			t.Errorf("at +%s: %+v, want %+v", tc.at, g, tc.want)
		}
	}
}
