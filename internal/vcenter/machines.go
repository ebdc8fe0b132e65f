package vcenter

import (
	"fmt"
	"regexp"
	"strings"
)

// machineRE is the rule for osr machine names: the names of agents, protected items and vault
// inventory entries (lowercase, as in agent certificates).
var machineRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,62}$`)

// ValidMachineName checks an osr machine name.
func ValidMachineName(n string) error {
	if !machineRE.MatchString(n) {
		return fmt.Errorf("invalid machine name %q: use 1 to 63 lowercase letters, digits, '.' or '-', starting with a letter or digit", n)
	}
	return nil
}

// MachineName turns a VM's display name into an osr machine name: lowercase, every run of other
// characters than letters, digits, '.' and '-' replaced by one '-', at most 63 characters, no
// leading or trailing '-' or '.'. It returns "" when nothing usable is left.
func MachineName(vmName string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(vmName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-':
			b.WriteRune(r)
			dash = false
		default:
			if !dash {
				b.WriteByte('-')
				dash = true
			}
		}
	}
	s := strings.Trim(b.String(), "-.")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-.")
	}
	if ValidMachineName(s) != nil {
		return ""
	}
	return s
}

// vmKey identifies a VM between syncs: its instance UUID, else BIOS UUID and name.
func vmKey(v VM) string {
	if v.InstanceID != "" {
		return v.InstanceID
	}
	return v.UUID + "/" + v.Name
}

// assignMachines gives every VM of f without a machine name one: a VM keeps the name it had in
// prev (the previous list of its vCenter, keyed like Diff), so that renaming it in vCenter does not
// change what osr protects; a new one gets MachineName of its display name, made unique across the
// file (physical servers and every vCenter's VMs) with its managed object ID and then a counter.
func assignMachines(f *file, vcenter string, prev []VM) {
	taken := map[string]bool{}
	for _, m := range f.Machines {
		taken[m.Name] = true
	}
	for _, v := range f.VCenters {
		for _, vm := range v.VMs {
			if vm.Machine != "" && (v.Name != vcenter) {
				taken[vm.Machine] = true
			}
		}
	}
	old := map[string]string{}
	for _, vm := range prev {
		if vm.Machine != "" {
			old[vmKey(vm)] = vm.Machine
		}
	}
	for i := range f.VCenters {
		v := &f.VCenters[i]
		if v.Name != vcenter {
			continue
		}
		// First the VMs that keep their names, so that a new VM cannot take one of them.
		for j := range v.VMs {
			vm := &v.VMs[j]
			if n, ok := old[vmKey(*vm)]; ok && !taken[n] {
				vm.Machine = n
			}
			if vm.Machine != "" {
				if taken[vm.Machine] {
					vm.Machine = ""
				} else {
					taken[vm.Machine] = true
				}
			}
		}
		for j := range v.VMs {
			vm := &v.VMs[j]
			if vm.Machine != "" {
				continue
			}
			base := MachineName(vm.Name)
			if base == "" {
				base = "vm"
			}
			cand := base
			if taken[cand] {
				cand = withSuffix(base, MachineName(vm.MoRef))
			}
			for k := 2; taken[cand]; k++ {
				cand = withSuffix(base, fmt.Sprint(k))
			}
			vm.Machine = cand
			taken[cand] = true
		}
	}
}

func withSuffix(base, suffix string) string {
	if suffix == "" {
		suffix = "vm"
	}
	if len(base)+1+len(suffix) > 63 {
		base = strings.TrimRight(base[:63-1-len(suffix)], "-.")
	}
	return base + "-" + suffix
}

// assignAll names the VMs of every vCenter that have no machine name yet (files written before
// machine names were kept).
func assignAll(f *file) {
	for _, v := range f.VCenters {
		for _, vm := range v.VMs {
			if vm.Machine == "" {
				assignMachines(f, v.Name, v.VMs)
				break
			}
		}
	}
}
