package vcenter

import "time"

// Status is the connection state of a vCenter, as the last sync left it.
type Status string

// The statuses.
const (
	Unknown      Status = "Unknown"      // added, never synced
	Connected    Status = "Connected"    // the last sync succeeded
	Disconnected Status = "Disconnected" // the last sync failed; Error says why
)

// DefaultPort is the HTTPS port of vCenter's API.
const DefaultPort = 443

// VCenter is one vCenter Server or ESXi host the configuration server discovers machines from.
type VCenter struct {
	Name    string `json:"name"`
	Address string `json:"address"` // IP address or FQDN
	Port    int    `json:"port"`
	Account string `json:"account"` // a vcenter account of the configuration server
	// PushAccount is the ssh account the mobility service is pushed to this vCenter's VMs with
	// (automatic push when replication is enabled; osr mobility push without --account).
	PushAccount string    `json:"push_account,omitempty"`
	Thumbprint  string    `json:"thumbprint"` // SHA-256 of the certificate, "AB:CD:..."
	Status      Status    `json:"status"`
	Error       string    `json:"error,omitempty"` // why the last sync failed
	Added       time.Time `json:"added"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastSync    time.Time `json:"last_sync,omitzero"` // the last successful sync
	About       string    `json:"about,omitempty"`    // product and version, e.g. "VMware vCenter Server 8.0.3"
	// Refreshed is the last refresh request of the vault carried out (docs/control-plane.md).
	Refreshed int64 `json:"refreshed,omitempty"`
	VMs       []VM  `json:"vms"`
}

// VM is one discovered virtual machine.
type VM struct {
	Name string `json:"name"`
	// Machine is the VM's osr machine name (vault inventory, protected item, agent): derived from
	// its name when first discovered, then kept while the VM exists (see MachineName).
	Machine     string   `json:"machine,omitempty"`
	MoRef       string   `json:"moref"`         // managed object ID, e.g. vm-42
	UUID        string   `json:"uuid"`          // BIOS UUID
	InstanceID  string   `json:"instance_uuid"` // vCenter instance UUID
	GuestOS     string   `json:"guest_os"`      // full name, from VMware Tools when running, else configured
	GuestFamily string   `json:"guest_family"`  // linux, windows or other
	PowerState  string   `json:"power_state"`   // poweredOn, poweredOff, suspended
	IPs         []string `json:"ips"`
	Host        string   `json:"host"`
	Cluster     string   `json:"cluster,omitempty"` // empty on a standalone host
	Datacenter  string   `json:"datacenter,omitempty"`
	Datastores  []string `json:"datastores"`
	CPUs        int      `json:"cpus"`
	MemoryMB    int      `json:"memory_mb"`
	Firmware    string   `json:"firmware,omitempty"` // bios or uefi
	// Push is the outcome of the last automatic push to the VM (none: absent).
	Push  *PushResult `json:"push,omitempty"`
	NICs  []NIC       `json:"nics,omitempty"`
	Disks []Disk      `json:"disks"`
}

// NIC is one virtual network adapter of a VM.
type NIC struct {
	Label   string   `json:"label"` // "Network adapter 1"
	MAC     string   `json:"mac,omitempty"`
	Network string   `json:"network"`       // port group name (key of a distributed port group)
	IPs     []string `json:"ips,omitempty"` // from VMware Tools
}

// Disk is one virtual disk of a VM.
type Disk struct {
	Label     string `json:"label"` // "Hard disk 1"
	Key       int32  `json:"key"`
	SizeBytes int64  `json:"size_bytes"`
	Datastore string `json:"datastore"`
	File      string `json:"file"` // "[LocalDS_0] vm/vm.vmdk"
	Thin      bool   `json:"thin,omitempty"`
}

// Machine is a physical server (or any machine not discovered through vCenter) added by address.
type Machine struct {
	Name    string `json:"name"`
	Address string `json:"address"` // IP address or FQDN
	Account string `json:"account"` // ssh or windows account used to push the mobility service
	// Disks are the disks a push protects, NAME=PATH; empty: every whole disk the machine lists.
	Disks []string `json:"disks,omitempty"`
	// Root is the installation root a push uses on the machine ("" is /: a chroot or a test host).
	Root  string    `json:"root,omitempty"`
	Added time.Time `json:"added"`
	// Push is the outcome of the last automatic push of the mobility service (none: absent).
	Push *PushResult `json:"push,omitempty"`
}

// PushResult is the outcome of an automatic push to a machine, as the vault shows it.
type PushResult struct {
	Time  time.Time `json:"time"`
	Error string    `json:"error,omitempty"` // empty: the push succeeded
}

// ChangeKind says how a VM changed between two syncs.
type ChangeKind string

// The change kinds.
const (
	Added      ChangeKind = "added"
	Removed    ChangeKind = "removed"
	PowerOn    ChangeKind = "powered-on"
	PowerOff   ChangeKind = "powered-off"
	Reconfig   ChangeKind = "changed" // disks, IPs, host or OS changed
	powerState            = "poweredOn"
)

// Change is one difference between the previous and the new list of a vCenter.
type Change struct {
	Kind ChangeKind `json:"kind"`
	VM   string     `json:"vm"`   // name
	UUID string     `json:"uuid"` // instance UUID, or BIOS UUID if none
}
