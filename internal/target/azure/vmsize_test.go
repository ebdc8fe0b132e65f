//go:build linux

package azure

import "testing"

func TestChooseVMSize(t *testing.T) {
	tests := []struct {
		cpus int
		mem  int64
		want string
		err  string
	}{
		{1, 512, "Standard_B1s", ""},
		{1, 2048, "Standard_B1ms", ""},
		{1, 3000, "Standard_F2s_v2", ""},
		{2, 4096, "Standard_F2s_v2", ""},
		{2, 8192, "Standard_D2s_v5", ""},
		{2, 8193, "Standard_E2s_v5", ""},
		{4, 16384, "Standard_D4s_v5", ""},
		{3, 6000, "Standard_F4s_v2", ""},
		{0, 0, "Standard_D2s_v5", ""},
		{0, 65536, "Standard_E8s_v5", ""},
		{20, 100000, "Standard_E20s_v5", ""},
		{96, 600000, "Standard_E96s_v5", ""},
		{128, 1024, "", "azure target: no VM size in the table has 128 vCPUs and 1024 MiB of memory; give one with the vm size option"},
		{2, 1 << 30, "", "azure target: no VM size in the table has 2 vCPUs and 1073741824 MiB of memory; give one with the vm size option"},
		{-1, 1024, "", "azure target: -1 vCPUs and 1024 MiB of memory: neither may be negative"},
	}
	for _, tt := range tests {
		got, err := ChooseVMSize(tt.cpus, tt.mem)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ChooseVMSize(%d, %d): %v, want %q", tt.cpus, tt.mem, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ChooseVMSize(%d, %d) = %q, %v, want %q", tt.cpus, tt.mem, got, err, tt.want)
		}
	}
	seen := map[string]bool{}
	for _, s := range VMSizes() {
		if seen[s.Name] || s.CPUs <= 0 || s.MemoryMB <= 0 {
			t.Errorf("table entry %+v is a duplicate or empty", s)
		}
		seen[s.Name] = true
	}
}
