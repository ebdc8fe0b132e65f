package pushinstall

import (
	"context"
	"fmt"

	"github.com/opensiterecovery/osr/internal/vcenter"
)

// Resolver finds how to reach a machine of the inventory: a physical server at its address with
// its account, a VM discovered in vCenter at its first IP address with VMAccount.
type Resolver struct {
	Inventory *vcenter.Inventory
	VMAccount string   // ssh account for discovered VMs; empty: VMs cannot be pushed to
	Disks     []string // NAME=PATH for every machine; empty: detected on each
}

// Resolve returns the push target of machine.
func (r Resolver) Resolve(ctx context.Context, machine string) (Target, error) {
	ms, err := r.Inventory.Machines(ctx)
	if err != nil {
		return Target{}, err
	}
	t := Target{Machine: machine, Disks: r.Disks}
	for _, m := range ms {
		if m.Name == machine {
			t.Address, t.Account, t.Root = m.Address, m.Account, m.Root
			if len(m.Disks) > 0 { // the machine's own choice
				t.Disks = m.Disks
			}
			return t, nil
		}
	}
	vs, err := r.Inventory.VCenters(ctx)
	if err != nil {
		return Target{}, err
	}
	for _, v := range vs {
		for _, vm := range v.VMs {
			if vm.Machine != machine && vm.Name != machine { // its osr machine name, or its vCenter name
				continue
			}
			switch {
			case len(vm.IPs) == 0:
				return Target{}, fmt.Errorf("machine %s (vCenter %s) reports no IP address: is it powered on with VMware Tools running?", machine, v.Name)
			case vm.GuestFamily == "windows":
				return Target{}, fmt.Errorf("machine %s: %w", machine, ErrWinRM)
			case r.VMAccount == "" && v.PushAccount == "":
				return Target{}, fmt.Errorf("machine %s was discovered in vCenter %s: give --account, the ssh account to push with, or set the vCenter's (osr vcenter set %s --push-account)", machine, v.Name, v.Name)
			}
			t.Address, t.Account = vm.IPs[0], r.VMAccount
			if t.Account == "" {
				t.Account = v.PushAccount
			}
			return t, nil
		}
	}
	return Target{}, fmt.Errorf("machine %s is not in the inventory: add it with osr machines add or osr vcenter add", machine)
}
