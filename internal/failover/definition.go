package failover

import (
	"context"
	"time"

	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/vault"
)

// Defaults of the machine definition for what the inventory does not report.
const (
	DefaultCPUs     = 2
	DefaultMemoryMB = 4096
	DefaultNetwork  = "default" // the source network of a machine whose NICs are not reported
	defaultNIC      = "nic0"
)

// machineInfo is what the inventory says of a machine (zero value: nothing known).
func (s *Service) machineInfo(ctx context.Context, vaultID, machine string) (vault.Machine, error) {
	ms, err := s.v.ListMachines(ctx, vaultID)
	if err != nil {
		return vault.Machine{}, err
	}
	for _, m := range ms {
		if m.Name == machine {
			return m, nil
		}
	}
	return vault.Machine{Name: machine}, nil
}

// plan is the machine to create, without its disks (those come from the point).
type plan struct {
	def target.Definition
}

// planMachine builds the definition's machine part: CPUs, memory, firmware and NICs on the
// mapped (test) networks. An unmapped network, or an IP setting that cannot be met, is an error
// the user fixes (409), found before anything is changed.
func (s *Service) planMachine(ctx context.Context, vaultID, machine string, test bool, testNetwork string) (*plan, error) {
	m, err := s.machineInfo(ctx, vaultID, machine)
	if err != nil {
		return nil, err
	}
	hw := vault.Hardware{}
	if m.Hardware != nil {
		hw = *m.Hardware
	}
	d := target.Definition{Version: 1, Name: machine, Source: machine, Test: test, OS: m.OS, Firmware: "bios", CPUs: DefaultCPUs, MemoryMB: DefaultMemoryMB}
	if test {
		d.Name = machine + "-test"
	}
	if hw.CPUs > 0 {
		d.CPUs = hw.CPUs
	}
	if hw.MemoryMB > 0 {
		d.MemoryMB = hw.MemoryMB
	}
	if hw.Firmware == "uefi" {
		d.Firmware = "uefi"
	}
	nics := hw.NICs
	if len(nics) == 0 {
		nics = []vault.NIC{{Name: defaultNIC, Network: DefaultNetwork, Addresses: m.Addresses}}
	}
	maps, err := s.mappings(ctx, vaultID)
	if err != nil {
		return nil, err
	}
	byNet := map[string]NetworkMapping{}
	for _, mp := range maps {
		byNet[mp.SourceNetwork] = mp
	}
	sets, err := s.nicSettings(ctx, vaultID, machine)
	if err != nil {
		return nil, err
	}
	for _, n := range nics {
		mp, ok := byNet[n.Network]
		if !ok {
			return nil, conflict("network %s of nic %s of machine %s is not mapped: add a network mapping for it (osr network-mapping add --source-network %q ...)", n.Network, n.Name, machine, n.Network)
		}
		nic := target.NIC{Name: n.Name, MAC: n.MAC, SourceNetwork: n.Network, Network: mp.TargetNetwork, IPMode: mp.IPMode}
		if test {
			nic.Network = mp.TestNetwork
			if testNetwork != "" {
				nic.Network = testNetwork
			}
		}
		if set, ok := sets[n.Name]; ok {
			nic.IPMode = set.IPMode
			if set.IPMode == IPStatic {
				nic.Address, nic.Gateway = set.Address, set.Gateway
			}
		}
		if nic.IPMode == IPKeep {
			if len(n.Addresses) == 0 {
				return nil, conflict("nic %s of machine %s keeps its address, but its address is not known: set it to dhcp or static (osr failover nic %s %s --ip-mode dhcp)", n.Name, machine, machine, n.Name)
			}
			nic.Address, nic.Gateway = n.Addresses[0], n.Gateway
		}
		d.NICs = append(d.NICs, nic)
	}
	return &plan{def: d}, nil
}

// withPoint completes a definition with a point's disks, in the inventory's disk order (the
// first is the OS disk), then the point's others by name.
func (p *plan) withPoint(pt *store.Point, inventoryOrder []string) target.Definition {
	d := p.def
	d.PointID, d.PointAt = pt.ID, pt.Time.UTC().Format(time.RFC3339Nano)
	d.Disks = nil
	for _, dp := range orderDisks(pt, inventoryOrder) {
		d.Disks = append(d.Disks, target.DefinitionDisk{Name: dp.Name, SizeBytes: dp.Size})
	}
	return d
}

func orderDisks(pt *store.Point, order []string) []store.DiskPoint {
	var out []store.DiskPoint
	used := map[string]bool{}
	for _, name := range order {
		if d, ok := pt.Disk(name); ok && !used[name] {
			out = append(out, *d)
			used[name] = true
		}
	}
	for _, d := range pt.Disks { // the point keeps its disks sorted by name
		if !used[d.Name] {
			out = append(out, d)
		}
	}
	return out
}
