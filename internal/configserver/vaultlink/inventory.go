package vaultlink

import "time"

// Inventory is the body of PUT /api/v1/cs/inventory: everything this configuration server
// discovers machines from, replacing what it reported before.
type Inventory struct {
	Machines []Machine `json:"machines"`
	VCenters []VCenter `json:"vcenters"`
}

// VCenter is a vCenter of the configuration server as the vault lists it. The account is named,
// its secret never leaves the configuration server.
type VCenter struct {
	Name        string     `json:"name"`
	Address     string     `json:"address"`
	Port        int        `json:"port"`
	Account     string     `json:"account"`
	Thumbprint  string     `json:"thumbprint,omitempty"` // empty: not pinned yet
	Status      string     `json:"status"`               // Unknown, Connected, Disconnected
	Error       string     `json:"error,omitempty"`
	About       string     `json:"about,omitempty"`
	LastAttempt *time.Time `json:"last_attempt,omitempty"`
	LastSync    *time.Time `json:"last_sync,omitempty"`
	VMs         int        `json:"vms"`
	Refreshed   int64      `json:"refreshed"` // the last refresh request carried out
}

// VCenterRequest is one vCenter request of the desired state: add (if missing), refresh (once
// more when Refresh is greater than what the configuration server carried out) or remove.
type VCenterRequest struct {
	Name       string `json:"name"`
	Action     string `json:"action"` // add, refresh, remove
	Address    string `json:"address,omitempty"`
	Port       int    `json:"port,omitempty"`
	Account    string `json:"account,omitempty"`
	Thumbprint string `json:"thumbprint,omitempty"`
	Refresh    int64  `json:"refresh"`
}

// Hardware is a machine's CPUs, memory, firmware and network interfaces.
type Hardware struct {
	CPUs     int    `json:"cpus,omitempty"`
	MemoryMB int64  `json:"memory_mb,omitempty"`
	Firmware string `json:"firmware,omitempty"` // bios or uefi
	NICs     []NIC  `json:"nics,omitempty"`
}

// NIC is a network interface of a machine.
type NIC struct {
	Name      string   `json:"name"`
	MAC       string   `json:"mac,omitempty"`
	Network   string   `json:"network"` // the source network (a vCenter port group)
	Addresses []string `json:"addresses,omitempty"`
	Gateway   string   `json:"gateway,omitempty"`
}

// PushResult is the outcome of an automatic push of the mobility service.
type PushResult struct {
	Time  time.Time `json:"time"`
	Error string    `json:"error,omitempty"` // empty: it succeeded
}
