package configserver

import (
	"time"

	"github.com/opensiterecovery/osr/internal/configserver/vaultlink"
)

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// View returns the process servers and agents with their statuses at the registry's clock.
func (r *Registry) View() ([]PSView, []AgentView) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pss := make([]PSView, 0, len(r.st.ProcessServers))
	for _, p := range r.st.ProcessServers {
		b, ok := r.beats["ps/"+p.Name]
		st, why := psStatus(r.clock, b.at, b.ps)
		v := PSView{Name: p.Name, Address: p.Address, Status: st, Reason: why, LastSeen: timePtr(b.at)}
		if ok {
			h := b.ps
			v.Health = &h
		}
		for _, a := range r.st.Agents {
			if a.ProcessServer == p.Name {
				v.Agents++
			}
		}
		pss = append(pss, v)
	}
	agents := make([]AgentView, 0, len(r.st.Agents))
	for _, a := range r.st.Agents {
		b := r.beats["agent/"+a.Machine]
		st, why := agentStatus(r.clock, b.at, b.agent)
		state := b.agent.State
		if r.queuedLocked(a.Machine) {
			state = "queued" // waits for a slot of the resync budget (budget.go)
		}
		agents = append(agents, AgentView{Machine: a.Machine, ProcessServer: a.ProcessServer, Status: st, Reason: why,
			LastSeen: timePtr(b.at), State: state})
	}
	return pss, agents
}

// VaultHeartbeat returns the summary the vault receives: every process server and agent with its
// last heartbeat, and the state of each machine the vault wants replicated.
func (r *Registry) VaultHeartbeat() vaultlink.Heartbeat {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := vaultlink.Heartbeat{Time: r.clock.Now().UTC(), ProcessServers: []vaultlink.PSHealth{}, Agents: []vaultlink.AgentHealth{}, Items: []vaultlink.ItemReport{}}
	for _, p := range r.st.ProcessServers {
		b := r.beats["ps/"+p.Name]
		h.ProcessServers = append(h.ProcessServers, vaultlink.PSHealth{
			Name: p.Name, Address: p.Address, LastSeen: b.at.UTC(),
			CPUPercent: b.ps.CPUPercent, MemoryPercent: b.ps.MemoryPercent, CacheFreePercent: b.ps.CacheFreePercent,
			UploadBacklogBytes: b.ps.BacklogBytes, UploadDrainSeconds: int64(b.ps.drain() / time.Second),
		})
	}
	wanted := map[string]bool{}
	if r.st.Desired != nil {
		for _, d := range r.st.Desired.Items {
			wanted[d.Machine] = true
		}
	}
	for _, a := range r.st.Agents {
		b := r.beats["agent/"+a.Machine]
		h.Agents = append(h.Agents, vaultlink.AgentHealth{Machine: a.Machine, ProcessServer: a.ProcessServer, LastSeen: b.at.UTC(), Version: b.agent.Version})
		if wanted[a.Machine] {
			state := b.agent.State
			if state == "" {
				state = "enabling"
			}
			h.Items = append(h.Items, vaultlink.ItemReport{Machine: a.Machine, State: state, InitialPercent: b.agent.InitialPercent,
				LastPointTime: b.agent.LastPointTime, LastPointID: b.agent.LastPointID, Error: b.agent.Error})
		}
	}
	return h
}

// Inventory returns the machines of the enrolled agents, for the vault.
func (r *Registry) Inventory() []vaultlink.Machine {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]vaultlink.Machine, 0, len(r.st.Agents))
	for _, a := range r.st.Agents {
		m := vaultlink.Machine{Name: a.Machine, Hostname: a.Info.Hostname, OS: a.Info.OS, Addresses: a.Info.Addresses, Source: "agent", Disks: a.Info.Disks}
		if m.Addresses == nil {
			m.Addresses = []string{}
		}
		if m.Disks == nil {
			m.Disks = []vaultlink.Disk{}
		}
		out = append(out, m)
	}
	return out
}
