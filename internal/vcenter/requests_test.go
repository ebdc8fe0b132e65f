package vcenter

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestApplyRequests(t *testing.T) {
	sim := startSim(t)
	s, inv, clk := newSyncer(t)
	ctx := context.Background()

	// Add without a thumbprint: the presented certificate is pinned at the first connection.
	if err := s.Apply(ctx, Request{Name: "vc1", Action: ActionAdd, Address: sim.host, Port: sim.port, Account: "vc"}); err != nil {
		t.Fatal(err)
	}
	v, err := inv.VCenter(ctx, "vc1")
	if err != nil || v.Status != Connected || v.Thumbprint != sim.tp || len(v.VMs) != 4 || v.Refreshed != 0 {
		t.Fatalf("after add: %+v %v", v, err)
	}
	for _, vm := range v.VMs {
		if ValidMachineName(vm.Machine) != nil {
			t.Errorf("VM %s machine %q", vm.Name, vm.Machine)
		}
	}
	// The same request again changes nothing; a newer refresh syncs once.
	clk.Advance(time.Minute)
	if err := s.Apply(ctx, Request{Name: "vc1", Action: ActionAdd, Address: sim.host, Port: sim.port, Account: "vc"}); err != nil {
		t.Fatal(err)
	}
	if v2, _ := inv.VCenter(ctx, "vc1"); !v2.LastAttempt.Equal(v.LastAttempt) {
		t.Fatalf("synced again: %v", v2.LastAttempt)
	}
	at := clk.Now().Truncate(time.Second)
	for range 2 { // the second time the request is done already
		if err := s.Apply(ctx, Request{Name: "vc1", Action: ActionRefresh, Refresh: 3}); err != nil {
			t.Fatal(err)
		}
		v, _ = inv.VCenter(ctx, "vc1")
		if v.Refreshed != 3 || !v.LastAttempt.Equal(at) {
			t.Fatalf("after refresh: refreshed %d last attempt %v, want %v", v.Refreshed, v.LastAttempt, at)
		}
		clk.Advance(time.Minute)
	}
	// A refresh of a vCenter that is not there does not add it.
	if err := s.Apply(ctx, Request{Name: "vc9", Action: ActionRefresh, Refresh: 1, Address: sim.host, Account: "vc"}); err != nil {
		t.Fatal(err)
	}
	if _, err := inv.VCenter(ctx, "vc9"); err == nil {
		t.Fatal("refresh added vc9")
	}

	// Account problems are recorded as Disconnected, as the vault shows them.
	for _, tc := range []struct{ name, account, want string }{
		{"wrong", "vc-wrong", fmt.Sprintf("vcenter wrong: log in to localhost:%d as discovery: wrong user name or password", sim.port)},
		{"nobody", "nobody", "vcenter nobody: account nobody: no such account"},
		{"ssh", "linux", "vcenter ssh: account linux is a ssh account; vCenter discovery needs a vcenter account"},
	} {
		if err := s.Apply(ctx, Request{Name: tc.name, Action: ActionAdd, Address: "localhost", Port: sim.port, Account: tc.account}); err != nil {
			t.Fatal(err)
		}
		v, _ := inv.VCenter(ctx, tc.name)
		if v.Status != Disconnected || v.Error != tc.want {
			t.Errorf("%s: %s %q\nwant %q", tc.name, v.Status, v.Error, tc.want)
		}
		if err := s.Apply(ctx, Request{Name: tc.name, Action: ActionRemove}); err != nil {
			t.Fatal(err)
		}
	}
	// What cannot be stored is the error.
	for _, tc := range []struct {
		r    Request
		want string
	}{
		{Request{Name: "dup", Action: ActionAdd, Address: sim.host, Port: sim.port, Account: "vc"}, fmt.Sprintf("vcenter dup: %s:%d is already added as vc1", sim.host, sim.port)},
		{Request{Name: "bad name", Action: ActionAdd, Address: "x", Account: "vc"}, `invalid name "bad name": use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`},
		{Request{Name: "x", Action: "rename"}, `vcenter x: unknown action "rename"`},
	} {
		if err := s.Apply(ctx, tc.r); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: %v, want %s", tc.r, err, tc.want)
		}
	}
	for range 2 {
		if err := s.Apply(ctx, Request{Name: "vc1", Action: ActionRemove}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := inv.VCenter(ctx, "vc1"); err == nil {
		t.Fatal("vc1 not removed")
	}
}

func TestHardwareOfVMs(t *testing.T) {
	sim := startSim(t)
	s, inv, _ := newSyncer(t)
	ctx := context.Background()
	if _, err := s.Add(ctx, VCenter{Name: "vc1", Address: sim.host, Port: sim.port, Account: "vc", Thumbprint: sim.tp}); err != nil {
		t.Fatal(err)
	}
	v, _ := inv.VCenter(ctx, "vc1")
	for _, vm := range v.VMs {
		if vm.CPUs < 1 || vm.MemoryMB < 1 || vm.Firmware != "bios" || len(vm.NICs) != 1 || vm.NICs[0].Network != "DC0_DVPG0" || vm.NICs[0].MAC == "" || vm.NICs[0].Label == "" {
			t.Errorf("VM %s: cpus %d memory %d firmware %q NICs %+v", vm.Name, vm.CPUs, vm.MemoryMB, vm.Firmware, vm.NICs)
		}
	}
}
