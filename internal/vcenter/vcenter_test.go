package vcenter

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver/accounts"
)

type simEnv struct {
	model  *simulator.Model
	server *simulator.Server
	host   string
	port   int
	tp     string
}

// startSim runs govmomi's vCenter simulator over TLS with its own certificate, accepting only
// user "discovery" with password "s3cret pass".
func startSim(t *testing.T) *simEnv {
	t.Helper()
	m := simulator.VPX()
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Remove)
	m.Service.TLS = new(tls.Config)
	m.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword("discovery", "s3cret pass")}
	s := m.Service.NewServer()
	t.Cleanup(s.Close)
	host, port, _ := net.SplitHostPort(s.URL.Host)
	var p int
	fmt.Sscan(port, &p)
	return &simEnv{model: m, server: s, host: host, port: p, tp: Thumbprint(s.Certificate())}
}

func newAccounts(t *testing.T, dir string, clk clock.Clock) *accounts.Store {
	t.Helper()
	st, err := accounts.New(accounts.Options{Dir: dir, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, a := range []struct {
		acc    accounts.Account
		secret string
	}{
		{accounts.Account{Name: "vc", Type: accounts.VCenter, User: "discovery", SecretKind: accounts.Password}, "s3cret pass"},
		{accounts.Account{Name: "vc-wrong", Type: accounts.VCenter, User: "discovery", SecretKind: accounts.Password}, "not it"},
		{accounts.Account{Name: "linux", Type: accounts.SSH, User: "root", SecretKind: accounts.Password}, "pw"},
	} {
		if err := st.Add(ctx, a.acc, []byte(a.secret)); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func newSyncer(t *testing.T) (*Syncer, *Inventory, *clock.Fake) {
	t.Helper()
	dir := t.TempDir()
	clk := clock.NewFake(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	inv, err := Open(dir, clk)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSyncer(inv, newAccounts(t, dir, clk), SyncerOptions{Clock: clk, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s, inv, clk
}

func names(vms []VM) []string {
	var out []string
	for _, v := range vms {
		out = append(out, v.Name)
	}
	return out
}

func TestProbeThumbprint(t *testing.T) {
	sim := startSim(t)
	got, err := Probe(context.Background(), sim.host, sim.port, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got != sim.tp {
		t.Fatalf("probe: %s, want %s", got, sim.tp)
	}
	n, err := NormalizeThumbprint(strings.ToLower(strings.ReplaceAll(got, ":", "")))
	if err != nil || n != got {
		t.Fatalf("normalize: %q %v", n, err)
	}
}

func TestSyncInventory(t *testing.T) {
	sim := startSim(t)
	s, inv, clk := newSyncer(t)
	ctx := context.Background()

	// One VM reports addresses through VMware Tools.
	mapr := sim.model.Map()
	simVM := mapr.Any("VirtualMachine").(*simulator.VirtualMachine)
	target := simVM.Name
	mapr.WithLock(sim.model.Service.Context, simVM.Reference(), func() {
		simVM.Guest.IpAddress = "10.20.0.5"
		simVM.Guest.GuestFamily = string(types.VirtualMachineGuestOsFamilyLinuxGuest)
		simVM.Guest.GuestFullName = "Debian GNU/Linux 12 (64-bit)"
		simVM.Guest.Net = []types.GuestNicInfo{{IpAddress: []string{"10.20.0.5", "fe80::1", "fd00::5"}}}
	})

	changes, err := s.Add(ctx, VCenter{Name: "vc1", Address: sim.host, Port: sim.port, Account: "vc", Thumbprint: sim.tp})
	if err != nil {
		t.Fatal(err)
	}
	v, err := inv.VCenter(ctx, "vc1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != Connected || v.Error != "" || !v.LastSync.Equal(clk.Now()) {
		t.Fatalf("status %s error %q last sync %v", v.Status, v.Error, v.LastSync)
	}
	want := []string{"DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1", "DC0_H0_VM0", "DC0_H0_VM1"}
	if got := names(v.VMs); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("VMs %v, want %v", got, want)
	}
	if len(changes) != 4 || changes[0].Kind != Added {
		t.Fatalf("changes %+v", changes)
	}
	for _, vm := range v.VMs {
		if vm.UUID == "" || vm.InstanceID == "" || vm.Host == "" || vm.PowerState != "poweredOn" || vm.GuestOS == "" || len(vm.Datastores) != 1 || vm.Datastores[0] != "LocalDS_0" {
			t.Errorf("VM %+v incomplete", vm)
		}
		if len(vm.Disks) == 0 || vm.Disks[0].SizeBytes <= 0 || vm.Disks[0].Datastore != "LocalDS_0" || !strings.HasPrefix(vm.Disks[0].File, "[LocalDS_0] ") || vm.Disks[0].Label == "" {
			t.Errorf("VM %s disks %+v", vm.Name, vm.Disks)
		}
		if strings.HasPrefix(vm.Name, "DC0_C0") != (vm.Cluster == "DC0_C0") {
			t.Errorf("VM %s on host %s cluster %q", vm.Name, vm.Host, vm.Cluster)
		}
		if vm.Name == target {
			if strings.Join(vm.IPs, ",") != "10.20.0.5,fd00::5" || vm.GuestFamily != "linux" || vm.GuestOS != "Debian GNU/Linux 12 (64-bit)" {
				t.Errorf("VM %s: IPs %v family %s OS %q", vm.Name, vm.IPs, vm.GuestFamily, vm.GuestOS)
			}
		}
	}

	// Power one off and remove another: the next sync shows both, and nothing else.
	vc, err := Connect(ctx, Endpoint{Address: sim.host, Port: sim.port, User: "discovery", Password: "s3cret pass", Thumbprint: sim.tp})
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close(ctx)
	finder := find.NewFinder(vc.c, true)
	dc, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	finder.SetDatacenter(dc)
	off, err := finder.VirtualMachine(ctx, "DC0_H0_VM1")
	if err != nil {
		t.Fatal(err)
	}
	task, err := off.PowerOff(ctx)
	waitTask(t, task, err)
	gone, err := finder.VirtualMachine(ctx, "DC0_C0_RP0_VM0")
	if err != nil {
		t.Fatal(err)
	}
	task, err = gone.PowerOff(ctx)
	waitTask(t, task, err)
	task, err = gone.Destroy(ctx)
	waitTask(t, task, err)

	clk.Advance(time.Minute)
	changes, err = s.Refresh(ctx, "vc1")
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(changes)
	if !strings.Contains(got, "powered-off DC0_H0_VM1") || !strings.Contains(got, "removed DC0_C0_RP0_VM0") || len(changes) != 2 {
		t.Fatalf("changes %s", got)
	}
	v, _ = inv.VCenter(ctx, "vc1")
	if got := names(v.VMs); strings.Join(got, ",") != "DC0_C0_RP0_VM1,DC0_H0_VM0,DC0_H0_VM1" {
		t.Fatalf("VMs after removal %v", got)
	}
	for _, vm := range v.VMs {
		if vm.Name == "DC0_H0_VM1" && vm.PowerState != "poweredOff" {
			t.Fatalf("power state %s", vm.PowerState)
		}
	}
	if !v.LastSync.Equal(clk.Now()) {
		t.Fatalf("last sync %v", v.LastSync)
	}
}

func waitTask(t *testing.T, task *object.Task, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSyncFailures(t *testing.T) {
	sim := startSim(t)
	s, inv, clk := newSyncer(t)
	ctx := context.Background()

	// A closed port on this machine: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	otherTP := strings.Repeat("AB:", 31) + "AB"

	tests := []struct {
		name    string
		vc      VCenter
		wantErr string
	}{
		{"wrong-password", VCenter{Address: sim.host, Port: sim.port, Account: "vc-wrong", Thumbprint: sim.tp},
			fmt.Sprintf("vcenter wrong-password: log in to %s:%d as discovery: wrong user name or password", sim.host, sim.port)},
		{"unreachable", VCenter{Address: "127.0.0.1", Port: closed, Account: "vc", Thumbprint: sim.tp},
			fmt.Sprintf("vcenter unreachable: connect to 127.0.0.1:%d: connect: connection refused", closed)},
		{"other-cert", VCenter{Address: sim.host, Port: sim.port, Account: "vc", Thumbprint: otherTP},
			fmt.Sprintf("vcenter other-cert: connect to %s:%d: certificate thumbprint does not match: presented %s, pinned %s", sim.host, sim.port, sim.tp, otherTP)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.vc.Name = tc.name
			_, err := s.Add(ctx, tc.vc)
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("error %v\nwant      %s", err, tc.wantErr)
			}
			v, err := inv.VCenter(ctx, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if v.Status != Disconnected || v.Error != tc.wantErr || !v.LastAttempt.Equal(clk.Now()) || len(v.VMs) != 0 {
				t.Fatalf("recorded %+v", v)
			}
			if err := inv.RemoveVCenter(ctx, tc.name); err != nil {
				t.Fatal(err)
			}
		})
	}

	// Account checks come before anything is stored.
	for _, tc := range []struct{ account, want string }{
		{"nobody", "account nobody: no such account"},
		{"linux", "account linux is a ssh account; vCenter discovery needs a vcenter account"},
	} {
		_, err := s.Add(ctx, VCenter{Name: "x", Address: sim.host, Port: sim.port, Account: tc.account, Thumbprint: sim.tp})
		if err == nil || err.Error() != tc.want {
			t.Errorf("account %s: %v, want %s", tc.account, err, tc.want)
		}
	}
	if _, err := inv.VCenter(ctx, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("x stored: %v", err)
	}
}

func TestInventoryFile(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	inv, _ := Open(dir, clock.NewFake(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)))
	m, err := inv.AddMachine(ctx, Machine{Address: "10.0.0.7", Account: "linux"})
	if err != nil || m.Name != "10.0.0.7" {
		t.Fatalf("%+v %v", m, err)
	}
	for _, tc := range []struct {
		m    Machine
		want string
	}{
		{Machine{Address: "10.0.0.7", Name: "db", Account: "linux"}, "machine db: address 10.0.0.7 is already added as 10.0.0.7"},
		{Machine{Address: "10.0.0.7", Account: "linux"}, "machine 10.0.0.7: already exists"},
		{Machine{Address: "bad host", Account: "linux"}, `invalid address "bad host": want an IP address or a host name`},
		{Machine{Address: "db2.example.com"}, "no account given: the configuration server needs one to push the mobility service"},
	} {
		if _, err := inv.AddMachine(ctx, tc.m); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: %v, want %s", tc.m, err, tc.want)
		}
	}
	err = inv.AddVCenter(ctx, VCenter{Name: "vc", Address: "vc.example.com", Account: "vc", Thumbprint: "zz"})
	if err == nil || err.Error() != `invalid thumbprint "zz": want the 64 hex digits of a SHA-256 thumbprint` {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("inventory file %v %v", st, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, FileName))
	if _, err := decode(b); err != nil {
		t.Fatal(err)
	}
	if err := inv.RemoveMachine(ctx, "10.0.0.7"); err != nil {
		t.Fatal(err)
	}
	if err := inv.RemoveMachine(ctx, "10.0.0.7"); err == nil || err.Error() != "machine 10.0.0.7: not found" {
		t.Fatal(err)
	}
}

func TestSyncerRun(t *testing.T) {
	sim := startSim(t)
	s, inv, _ := newSyncer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := inv.AddVCenter(ctx, VCenter{Name: "vc1", Address: sim.host, Port: sim.port, Account: "vc", Thumbprint: sim.tp}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, 20*time.Millisecond) }()
	for i := 0; ; i++ {
		v, _ := inv.VCenter(ctx, "vc1")
		if v.Status == Connected && len(v.VMs) == 4 {
			break
		}
		if i > 500 {
			t.Fatalf("not synced by the loop: %+v", v)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background(), 0); err == nil || err.Error() != "vcenter syncer: interval must be positive" {
		t.Fatal(err)
	}
}
