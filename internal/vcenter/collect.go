package vcenter

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// VMs reads every virtual machine (templates excluded) with its disks, guest OS, addresses,
// power state, host, cluster and datastores. The list is sorted by name, then UUID.
func (s *Session) VMs(ctx context.Context) ([]VM, error) {
	vm := view.NewManager(s.c)
	v, err := vm.CreateContainerView(ctx, s.c.ServiceContent.RootFolder, nil, true)
	if err != nil {
		return nil, fmt.Errorf("create inventory view: %w", err)
	}
	defer func() { _ = v.Destroy(context.WithoutCancel(ctx)) }()

	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "config", "guest", "runtime", "datastore"}, &vms); err != nil {
		return nil, fmt.Errorf("read virtual machines: %w", err)
	}
	var hosts []mo.HostSystem
	if err := v.Retrieve(ctx, []string{"HostSystem"}, []string{"name", "parent"}, &hosts); err != nil {
		return nil, fmt.Errorf("read hosts: %w", err)
	}
	var clusters []mo.ClusterComputeResource
	if err := v.Retrieve(ctx, []string{"ClusterComputeResource"}, []string{"name"}, &clusters); err != nil {
		return nil, fmt.Errorf("read clusters: %w", err)
	}
	var stores []mo.Datastore
	if err := v.Retrieve(ctx, []string{"Datastore"}, []string{"name"}, &stores); err != nil {
		return nil, fmt.Errorf("read datastores: %w", err)
	}
	var dcs []mo.Datacenter
	if err := v.Retrieve(ctx, []string{"Datacenter"}, []string{"name", "hostFolder"}, &dcs); err != nil {
		return nil, fmt.Errorf("read datacenters: %w", err)
	}

	var pgs []mo.DistributedVirtualPortgroup
	if err := v.Retrieve(ctx, []string{"DistributedVirtualPortgroup"}, []string{"name", "key"}, &pgs); err != nil {
		return nil, fmt.Errorf("read port groups: %w", err)
	}
	pgName := map[string]string{}
	for _, p := range pgs {
		pgName[p.Key] = p.Name
	}

	clusterName := map[types.ManagedObjectReference]string{}
	for _, c := range clusters {
		clusterName[c.Self] = c.Name
	}
	type hostInfo struct{ name, cluster string }
	hostOf := map[types.ManagedObjectReference]hostInfo{}
	for _, h := range hosts {
		hi := hostInfo{name: h.Name}
		if h.Parent != nil {
			hi.cluster = clusterName[*h.Parent]
		}
		hostOf[h.Self] = hi
	}
	dsName := map[types.ManagedObjectReference]string{}
	for _, d := range stores {
		dsName[d.Self] = d.Name
	}
	dcName := ""
	if len(dcs) == 1 { // with several datacenters the VM's own is found from its inventory path, not read here
		dcName = dcs[0].Name
	}

	out := make([]VM, 0, len(vms))
	for _, m := range vms {
		if m.Config != nil && m.Config.Template {
			continue
		}
		vm := convert(m, hostOf[hostRef(m)].name, hostOf[hostRef(m)].cluster, dcName, dsName)
		for i, n := range vm.NICs {
			if name := pgName[n.Network]; name != "" {
				vm.NICs[i].Network = name
			}
		}
		out = append(out, vm)
	}
	slices.SortFunc(out, func(a, b VM) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.UUID, b.UUID)
	})
	return out, nil
}

func hostRef(m mo.VirtualMachine) types.ManagedObjectReference {
	if m.Runtime.Host == nil {
		return types.ManagedObjectReference{}
	}
	return *m.Runtime.Host
}

func convert(m mo.VirtualMachine, host, cluster, dc string, dsName map[types.ManagedObjectReference]string) VM {
	out := VM{Name: m.Name, MoRef: m.Self.Value, PowerState: string(m.Runtime.PowerState), Host: host, Cluster: cluster,
		Datacenter: dc, IPs: []string{}, Datastores: []string{}, Disks: []Disk{}}
	guestID := ""
	if c := m.Config; c != nil {
		out.UUID, out.InstanceID, out.GuestOS, guestID = c.Uuid, c.InstanceUuid, c.GuestFullName, c.GuestId
		out.CPUs, out.MemoryMB = int(c.Hardware.NumCPU), int(c.Hardware.MemoryMB)
		switch c.Firmware {
		case string(types.GuestOsDescriptorFirmwareTypeEfi):
			out.Firmware = "uefi"
		case string(types.GuestOsDescriptorFirmwareTypeBios):
			out.Firmware = "bios"
		}
		for _, d := range c.Hardware.Device {
			if nic, ok := d.(types.BaseVirtualEthernetCard); ok {
				out.NICs = append(out.NICs, convertNIC(nic.GetVirtualEthernetCard()))
				continue
			}
			vd, ok := d.(*types.VirtualDisk)
			if !ok {
				continue
			}
			disk := Disk{Key: vd.Key, SizeBytes: vd.CapacityInBytes}
			if disk.SizeBytes == 0 {
				disk.SizeBytes = vd.CapacityInKB * 1024
			}
			if di := vd.DeviceInfo; di != nil {
				disk.Label = di.GetDescription().Label
			}
			if fb, ok := vd.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
				b := fb.GetVirtualDeviceFileBackingInfo()
				disk.File = b.FileName
				if b.Datastore != nil {
					disk.Datastore = dsName[*b.Datastore]
				}
			}
			if fb, ok := vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok && fb.ThinProvisioned != nil {
				disk.Thin = *fb.ThinProvisioned
			}
			out.Disks = append(out.Disks, disk)
		}
	}
	if g := m.Guest; g != nil {
		if g.GuestFullName != "" {
			out.GuestOS = g.GuestFullName
		}
		if g.GuestFamily != "" {
			out.GuestFamily = family(g.GuestFamily)
		}
		seen := map[string]bool{}
		add := func(ip string) {
			if a := net.ParseIP(ip); a != nil && !a.IsLinkLocalUnicast() && !seen[a.String()] {
				seen[a.String()] = true
				out.IPs = append(out.IPs, a.String())
			}
		}
		add(g.IpAddress)
		for _, n := range g.Net {
			for _, ip := range n.IpAddress {
				add(ip)
				for i := range out.NICs {
					if a := net.ParseIP(ip); a != nil && !a.IsLinkLocalUnicast() && n.MacAddress != "" && strings.EqualFold(out.NICs[i].MAC, n.MacAddress) {
						out.NICs[i].IPs = append(out.NICs[i].IPs, a.String())
					}
				}
			}
		}
	}
	if out.GuestFamily == "" {
		out.GuestFamily = familyOfID(guestID)
	}
	for _, d := range m.Datastore {
		if n := dsName[d]; n != "" {
			out.Datastores = append(out.Datastores, n)
		}
	}
	slices.Sort(out.Datastores)
	return out
}

// family maps vSphere's guest family ("linuxGuest", "windowsGuest") to osr's words.
func family(f string) string {
	switch f {
	case string(types.VirtualMachineGuestOsFamilyLinuxGuest):
		return "linux"
	case string(types.VirtualMachineGuestOsFamilyWindowsGuest):
		return "windows"
	}
	return "other"
}

// familyOfID guesses the family from the configured guest ID when VMware Tools do not report it.
func familyOfID(id string) string {
	l := strings.ToLower(id)
	switch {
	case l == "":
		return "other"
	case strings.HasPrefix(l, "win"):
		return "windows"
	case strings.Contains(l, "linux"), strings.HasPrefix(l, "rhel"), strings.HasPrefix(l, "centos"), strings.HasPrefix(l, "ubuntu"),
		strings.HasPrefix(l, "debian"), strings.HasPrefix(l, "sles"), strings.HasPrefix(l, "oracle"), strings.HasPrefix(l, "rocky"),
		strings.HasPrefix(l, "alma"), strings.HasPrefix(l, "fedora"), strings.HasPrefix(l, "photon"), strings.HasPrefix(l, "coreos"),
		strings.HasPrefix(l, "amazonlinux"), strings.HasPrefix(l, "asianux"):
		return "linux"
	}
	return "other"
}

func convertNIC(e *types.VirtualEthernetCard) NIC {
	n := NIC{MAC: e.MacAddress}
	if di := e.DeviceInfo; di != nil {
		n.Label = di.GetDescription().Label
	}
	switch b := e.Backing.(type) {
	case *types.VirtualEthernetCardNetworkBackingInfo:
		n.Network = b.DeviceName
	case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
		n.Network = b.Port.PortgroupKey
	case *types.VirtualEthernetCardOpaqueNetworkBackingInfo:
		n.Network = b.OpaqueNetworkId
	}
	return n
}
