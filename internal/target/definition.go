package target

// Definition is the machine a failover creates (docs/formats/machine-definition.md). It is
// provider-neutral: local writes it as JSON beside the disks, azure renders a deployment template
// from it.
type Definition struct {
	Version  int              `json:"version"` // 1
	Name     string           `json:"name"`    // the target machine's name
	Source   string           `json:"source"`  // the protected machine it comes from
	PointID  string           `json:"point_id"`
	PointAt  string           `json:"point_time"` // RFC 3339, UTC
	Test     bool             `json:"test,omitempty"`
	OS       string           `json:"os,omitempty"` // "linux" or "windows", when known
	Firmware string           `json:"firmware"`     // "bios" or "uefi"
	CPUs     int              `json:"cpus"`
	MemoryMB int64            `json:"memory_mb"`
	Disks    []DefinitionDisk `json:"disks"`
	NICs     []NIC            `json:"nics"`
}

// DefinitionDisk is one disk of the machine, in boot order (the first is the OS disk).
type DefinitionDisk struct {
	Name      string `json:"name"`
	SizeBytes int64  `json:"size_bytes"` // the source disk's size
	Format    string `json:"format"`     // raw, vhd, qcow2, page-blob-vhd
	File      string `json:"file"`       // path (relative to the definition) or blob URL
}

// NIC is a network interface on a target (or test) network.
type NIC struct {
	Name          string `json:"name"`
	MAC           string `json:"mac,omitempty"` // kept from the source when known
	SourceNetwork string `json:"source_network"`
	Network       string `json:"network"` // target or test network from the mapping
	// IPMode is "keep" (the source's address), "dhcp" or "static".
	IPMode  string   `json:"ip_mode"`
	Address string   `json:"address,omitempty"` // CIDR, for keep and static
	Gateway string   `json:"gateway,omitempty"`
	DNS     []string `json:"dns,omitempty"`
}
