package vault

// Hardware is what a configuration server may report of a machine beside its disks, for the
// machine definition a failover creates (internal/failover). Every field is optional: failover
// takes defaults (2 CPUs, 4096 MiB, BIOS, one NIC on the network "default") for what is missing.
type Hardware struct {
	CPUs     int    `json:"cpus,omitempty"`
	MemoryMB int64  `json:"memory_mb,omitempty"`
	Firmware string `json:"firmware,omitempty"` // bios or uefi
	NICs     []NIC  `json:"nics,omitempty"`
}

// NIC is a network interface of a source machine.
type NIC struct {
	Name    string `json:"name"`
	MAC     string `json:"mac,omitempty"`
	Network string `json:"network"` // the source network (a vCenter port group, a VLAN name)
	// Addresses are the NIC's addresses, with their prefix length when known (10.0.0.21/24).
	Addresses []string `json:"addresses,omitempty"`
	Gateway   string   `json:"gateway,omitempty"`
}
