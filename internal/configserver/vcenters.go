package configserver

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver/accounts"
	"github.com/opensiterecovery/osr/internal/configserver/vaultlink"
	"github.com/opensiterecovery/osr/internal/vcenter"
)

// vcenterLink carries out the vault's vCenter requests (desired state) one list at a time, in the
// background, and remembers the adds that could not be stored so that the inventory reports them.
type vcenterLink struct {
	mu       sync.Mutex
	pending  []vaultlink.VCenterRequest
	queued   bool // pending holds a list not yet applied
	busy     bool
	rejected map[string]vaultlink.VCenter
}

// vcenterRequests hands the desired state's vCenter requests to the background worker: the newest
// list replaces one not started yet. The inventory is sent early when they are done.
func (s *Server) vcenterRequests(ctx context.Context, reqs []vaultlink.VCenterRequest) {
	l := &s.vc
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(reqs) == 0 && len(l.rejected) == 0 && !l.busy {
		return
	}
	l.pending, l.queued = slices.Clone(reqs), true
	if l.busy {
		return
	}
	l.busy = true
	go s.vcenterWorker(ctx) // ends with the server: a sync cut short is recorded as failed
}

func (s *Server) vcenterWorker(ctx context.Context) {
	l := &s.vc
	for {
		l.mu.Lock()
		if !l.queued {
			l.busy = false
			l.mu.Unlock()
			return
		}
		reqs := l.pending
		l.queued = false
		l.mu.Unlock()

		rejected := map[string]vaultlink.VCenter{}
		if len(reqs) > 0 {
			if err := s.applyVCenters(ctx, reqs, rejected); err != nil {
				s.cfg.Logger.Warn("vCenter requests of the vault not carried out", "err", err)
			}
		}
		l.mu.Lock()
		l.rejected = rejected
		l.mu.Unlock()
		s.registry.report() // the inventory changed: tell the vault now
	}
}

func (s *Server) applyVCenters(ctx context.Context, reqs []vaultlink.VCenterRequest, rejected map[string]vaultlink.VCenter) error {
	inv, err := vcenter.Open(s.cfg.DataDir, s.cfg.Clock)
	if err != nil {
		return err
	}
	acc, err := accounts.New(accounts.Options{Dir: s.cfg.DataDir, Clock: s.cfg.Clock})
	if err != nil {
		return err
	}
	syncer, err := vcenter.NewSyncer(inv, acc, vcenter.SyncerOptions{Clock: s.cfg.Clock, Logger: s.cfg.Logger})
	if err != nil {
		return err
	}
	for _, r := range reqs {
		err := syncer.Apply(ctx, vcenter.Request{Name: r.Name, Action: r.Action, Address: r.Address, Port: r.Port,
			Account: r.Account, Thumbprint: r.Thumbprint, Refresh: r.Refresh})
		if err != nil {
			s.cfg.Logger.Warn("vCenter request of the vault refused", "vcenter", r.Name, "action", r.Action, "err", err)
			if r.Action == vcenter.ActionAdd {
				port := r.Port
				if port == 0 {
					port = vcenter.DefaultPort
				}
				rejected[r.Name] = vaultlink.VCenter{Name: r.Name, Address: r.Address, Port: port, Account: r.Account,
					Status: string(vcenter.Disconnected), Error: err.Error(), Refreshed: r.Refresh}
			}
		}
	}
	return nil
}

// inventory is what PUT /cs/inventory sends: the physical servers and the VMs of every vCenter
// (inventory.json), merged by machine name with the registered agents, and the vCenters.
func (s *Server) inventory() vaultlink.Inventory {
	out := vaultlink.Inventory{Machines: []vaultlink.Machine{}, VCenters: []vaultlink.VCenter{}}
	byName := map[string]int{}
	add := func(m vaultlink.Machine) {
		if vcenter.ValidMachineName(m.Name) != nil {
			s.cfg.Logger.Warn("machine left out of the vault inventory: its name is not a valid machine name", "machine", m.Name)
			return
		}
		if _, dup := byName[m.Name]; dup {
			return
		}
		byName[m.Name] = len(out.Machines)
		out.Machines = append(out.Machines, m)
	}
	var vcs []vcenter.VCenter
	if inv, err := vcenter.Open(s.cfg.DataDir, s.cfg.Clock); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ms, err := inv.Machines(ctx)
		if err == nil {
			vcs, err = inv.VCenters(ctx)
		}
		cancel()
		if err != nil {
			s.cfg.Logger.Warn("source inventory cannot be read", "err", err)
		}
		for _, m := range ms {
			add(vaultlink.Machine{Name: m.Name, Addresses: []string{m.Address}, Source: "physical", Disks: []vaultlink.Disk{}, Push: pushOf(m.Push)})
		}
	}
	for _, v := range vcs {
		for _, vm := range v.VMs {
			m := vaultlink.Machine{Name: vm.Machine, Hostname: "", OS: vm.GuestFamily, Addresses: vm.IPs, Source: "vcenter",
				VCenter: v.Name, VMName: vm.Name, InstanceUUID: vm.InstanceID, GuestOS: vm.GuestOS, PowerState: vm.PowerState,
				Host: vm.Host, Cluster: vm.Cluster, Datacenter: vm.Datacenter, Datastores: vm.Datastores, Disks: []vaultlink.Disk{}, Push: pushOf(vm.Push)}
			if vm.CPUs > 0 || vm.MemoryMB > 0 || vm.Firmware != "" || len(vm.NICs) > 0 {
				m.Hardware = &vaultlink.Hardware{CPUs: vm.CPUs, MemoryMB: int64(vm.MemoryMB), Firmware: vm.Firmware}
				for _, n := range vm.NICs {
					m.Hardware.NICs = append(m.Hardware.NICs, vaultlink.NIC{Name: n.Label, MAC: n.MAC, Network: n.Network, Addresses: n.IPs})
				}
			}
			if m.Addresses == nil {
				m.Addresses = []string{}
			}
			for _, d := range vm.Disks {
				m.Disks = append(m.Disks, vaultlink.Disk{Name: d.Label, SizeBytes: d.SizeBytes, Datastore: d.Datastore, File: d.File, Thin: d.Thin})
			}
			add(m)
		}
		e := vaultlink.VCenter{Name: v.Name, Address: v.Address, Port: v.Port, Account: v.Account, Thumbprint: v.Thumbprint,
			Status: string(v.Status), Error: v.Error, About: v.About, VMs: len(v.VMs), Refreshed: v.Refreshed}
		if !v.LastAttempt.IsZero() {
			t := v.LastAttempt.UTC()
			e.LastAttempt = &t
		}
		if !v.LastSync.IsZero() {
			t := v.LastSync.UTC()
			e.LastSync = &t
		}
		out.VCenters = append(out.VCenters, e)
	}
	// Registered agents: a discovered machine with an agent shows the agent's view of its disks
	// (what is replicated); one that was never discovered is a physical server.
	for _, a := range s.registry.Inventory() {
		i, ok := byName[a.Name]
		if !ok {
			a.Source, a.Agent = "physical", true
			add(a)
			continue
		}
		m := &out.Machines[i]
		m.Agent, m.Hostname = true, a.Hostname
		if a.OS != "" {
			m.OS = a.OS
		}
		if len(a.Addresses) > 0 {
			m.Addresses = a.Addresses
		}
		if len(a.Disks) > 0 {
			m.Disks = a.Disks
		}
	}
	slices.SortFunc(out.Machines, func(a, b vaultlink.Machine) int { return strings.Compare(a.Name, b.Name) })
	s.vc.mu.Lock()
	for name, r := range s.vc.rejected {
		if !slices.ContainsFunc(out.VCenters, func(v vaultlink.VCenter) bool { return v.Name == name }) {
			out.VCenters = append(out.VCenters, r)
		}
	}
	s.vc.mu.Unlock()
	slices.SortFunc(out.VCenters, func(a, b vaultlink.VCenter) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// inventoryKey tells inventories apart, to send one only when it changed.
func inventoryKey(inv vaultlink.Inventory) string {
	b, _ := json.Marshal(inv)
	return string(b)
}

func pushOf(p *vcenter.PushResult) *vaultlink.PushResult {
	if p == nil {
		return nil
	}
	return &vaultlink.PushResult{Time: p.Time.UTC(), Error: p.Error}
}
