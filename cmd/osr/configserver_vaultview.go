package main

import (
	"context"
	"time"

	"github.com/opensiterecovery/osr/internal/apiclient"
	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/vault"
)

// vaultInfrastructure builds the infrastructure view of every configuration server of a vault
// from the vault's copy of their heartbeats, rated at c's time by the same rules.
func vaultInfrastructure(ctx context.Context, cl *apiclient.Client, vaultName string, c clock.Clock) (*configserver.Infrastructure, error) {
	css, err := cl.ListConfigServers(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	inf := &configserver.Infrastructure{ConfigurationServers: []configserver.CSView{}}
	for _, cs := range css {
		inf.ConfigurationServers = append(inf.ConfigurationServers, csViewFromVault(cs, vaultName, c))
	}
	return inf, addVaultVCenters(ctx, cl, vaultName, inf) // discovery_vault.go
}

func csViewFromVault(cs vault.ConfigServer, vaultName string, c clock.Clock) configserver.CSView {
	var last time.Time
	if cs.LastHeartbeat != nil {
		last = *cs.LastHeartbeat
	}
	v := configserver.CSView{Name: cs.Name, ID: cs.ID, Vault: vaultName, LastVault: cs.LastHeartbeat,
		ProcessServers: []configserver.PSView{}, Agents: []configserver.AgentView{}}
	v.Status, v.Reason = configserver.RateConfigServer(c, last)
	agents := map[string]int{}
	for _, a := range cs.Heartbeat.Agents {
		agents[a.ProcessServer]++
		av := configserver.AgentView{Machine: a.Machine, ProcessServer: a.ProcessServer, LastSeen: seenPtr(a.LastSeen)}
		av.Status, av.Reason = configserver.RateAgent(c, a.LastSeen)
		for _, it := range cs.Heartbeat.Items {
			if it.Machine == a.Machine {
				av.State = it.State
			}
		}
		v.Agents = append(v.Agents, av)
	}
	for _, p := range cs.Heartbeat.ProcessServers {
		h := configserver.PSHealth{CPUPercent: p.CPUPercent, MemoryPercent: p.MemoryPercent, CacheFreePercent: p.CacheFreePercent,
			BacklogBytes: p.UploadBacklogBytes, DrainSeconds: float64(p.UploadDrainSeconds)}
		pv := configserver.PSView{Name: p.Name, Address: p.Address, LastSeen: seenPtr(p.LastSeen), Agents: agents[p.Name]}
		pv.Status, pv.Reason = configserver.RatePS(c, p.LastSeen, h)
		if !p.LastSeen.IsZero() {
			pv.Health = &h
		}
		v.ProcessServers = append(v.ProcessServers, pv)
	}
	if v.Status == configserver.Disconnected { // what it last said is stale: so are its servers
		for i := range v.ProcessServers {
			v.ProcessServers[i].Status = configserver.Disconnected
		}
		for i := range v.Agents {
			v.Agents[i].Status = configserver.Disconnected
		}
	}
	return v
}

func seenPtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
