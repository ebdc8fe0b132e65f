package azure

import "fmt"

// VMSize is one entry of the VM size table (docs/formats/azure-deployment.md).
type VMSize struct {
	Name     string
	CPUs     int
	MemoryMB int64
}

// VMSizes is the table the provider chooses a VM size from: burstable sizes for one vCPU,
// compute-optimised (Fsv2), general-purpose (Dsv5) and memory-optimised (Esv5) sizes.
func VMSizes() []VMSize {
	g := func(name string, cpus int, gib int64) VMSize { return VMSize{name, cpus, gib << 10} }
	return []VMSize{
		g("Standard_B1s", 1, 1), g("Standard_B1ms", 1, 2),
		g("Standard_F2s_v2", 2, 4), g("Standard_F4s_v2", 4, 8), g("Standard_F8s_v2", 8, 16),
		g("Standard_F16s_v2", 16, 32), g("Standard_F32s_v2", 32, 64), g("Standard_F48s_v2", 48, 96),
		g("Standard_F64s_v2", 64, 128), g("Standard_F72s_v2", 72, 144),
		g("Standard_D2s_v5", 2, 8), g("Standard_D4s_v5", 4, 16), g("Standard_D8s_v5", 8, 32),
		g("Standard_D16s_v5", 16, 64), g("Standard_D32s_v5", 32, 128), g("Standard_D48s_v5", 48, 192),
		g("Standard_D64s_v5", 64, 256), g("Standard_D96s_v5", 96, 384),
		g("Standard_E2s_v5", 2, 16), g("Standard_E4s_v5", 4, 32), g("Standard_E8s_v5", 8, 64),
		g("Standard_E16s_v5", 16, 128), g("Standard_E20s_v5", 20, 160), g("Standard_E32s_v5", 32, 256),
		g("Standard_E48s_v5", 48, 384), g("Standard_E64s_v5", 64, 512), g("Standard_E96s_v5", 96, 672),
	}
}

// Unknown CPUs or memory (0) count as these: the general-purpose two-vCPU size.
const (
	defaultCPUs     = 2
	defaultMemoryMB = 8 << 10
)

// ChooseVMSize returns the table's size with at least cpus vCPUs and memoryMB MiB of memory that
// has the fewest vCPUs and, among those, the least memory (the table's order breaks ties).
// Zero means unknown and counts as 2 vCPUs and 8 GiB.
func ChooseVMSize(cpus int, memoryMB int64) (string, error) {
	if cpus < 0 || memoryMB < 0 {
		return "", fmt.Errorf("azure target: %d vCPUs and %d MiB of memory: neither may be negative", cpus, memoryMB)
	}
	if cpus == 0 {
		cpus = defaultCPUs
	}
	if memoryMB == 0 {
		memoryMB = defaultMemoryMB
	}
	var best *VMSize
	sizes := VMSizes()
	for i := range sizes {
		s := &sizes[i]
		if s.CPUs < cpus || s.MemoryMB < memoryMB {
			continue
		}
		if best == nil || s.CPUs < best.CPUs || (s.CPUs == best.CPUs && s.MemoryMB < best.MemoryMB) {
			best = s
		}
	}
	if best == nil {
		return "", fmt.Errorf("azure target: no VM size in the table has %d vCPUs and %d MiB of memory; give one with the vm size option", cpus, memoryMB)
	}
	return best.Name, nil
}
