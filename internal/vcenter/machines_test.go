package vcenter

import (
	"context"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

func TestMachineName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"DC0_H0_VM0", "dc0-h0-vm0"},
		{"web01", "web01"},
		{"  My VM (2) ", "my-vm-2"},
		{"db.example.com", "db.example.com"},
		{"--x--", "x"},
		{"日本", ""},
		{string(make([]byte, 80)), ""},
		{"a" + string(make([]byte, 0)) + "bcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefgh", "abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abc"},
	} {
		if got := MachineName(tc.in); got != tc.want {
			t.Errorf("MachineName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAssignMachines(t *testing.T) {
	f := &file{Version: 1, Machines: []Machine{{Name: "web01", Address: "10.0.0.1"}},
		VCenters: []VCenter{
			{Name: "a", VMs: []VM{{Name: "Web01", MoRef: "vm-1", InstanceID: "i1"}, {Name: "DB_01", MoRef: "vm-2", InstanceID: "i2"}}},
			{Name: "b", VMs: []VM{{Name: "db-01", MoRef: "vm-7", InstanceID: "i3"}, {Name: "db 01", MoRef: "vm-8", InstanceID: "i4"}}},
		}}
	assignAll(f)
	got := map[string]string{}
	for _, v := range f.VCenters {
		for _, vm := range v.VMs {
			got[vm.InstanceID] = vm.Machine
		}
	}
	want := map[string]string{"i1": "web01-vm-1", "i2": "db-01", "i3": "db-01-vm-7", "i4": "db-01-vm-8"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q (all %v)", k, got[k], w, got)
		}
	}
	// A renamed VM keeps its machine name; a new VM does not take it.
	prev := f.VCenters[0].VMs
	f.VCenters[0].VMs = []VM{{Name: "renamed", MoRef: "vm-2", InstanceID: "i2"}, {Name: "db_01", MoRef: "vm-9", InstanceID: "i9"}}
	assignMachines(f, "a", prev)
	if m0, m1 := f.VCenters[0].VMs[0].Machine, f.VCenters[0].VMs[1].Machine; m0 != "db-01" || m1 != "db-01-vm-9" {
		t.Fatalf("after rename: %q %q", m0, m1)
	}
}

func TestAddMachineNames(t *testing.T) {
	ctx := context.Background()
	inv, _ := Open(t.TempDir(), clock.NewFake(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)))
	for _, tc := range []struct {
		m    Machine
		want string
	}{
		{Machine{Address: "10.0.0.8", Name: "DB_01", Account: "linux"}, `invalid machine name "DB_01": use 1 to 63 lowercase letters, digits, '.' or '-', starting with a letter or digit`},
		{Machine{Address: "DB.Example.com", Account: "linux"}, ""},
	} {
		_, err := inv.AddMachine(ctx, tc.m)
		if (err == nil) != (tc.want == "") || err != nil && err.Error() != tc.want {
			t.Errorf("%+v: %v, want %q", tc.m, err, tc.want)
		}
	}
	if err := inv.update(ctx, func(f *file) error {
		f.VCenters = append(f.VCenters, VCenter{Name: "vc", Address: "vc.lab", Port: 443, Status: Connected, VMs: []VM{{Name: "App", MoRef: "vm-3", InstanceID: "x"}}})
		assignAll(f)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err := inv.AddMachine(ctx, Machine{Address: "10.0.0.9", Name: "app", Account: "linux"})
	if err == nil || err.Error() != "machine app: the name is taken by VM App of vCenter vc" {
		t.Fatal(err)
	}
}
