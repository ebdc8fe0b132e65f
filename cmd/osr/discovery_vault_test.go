package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/vaulttest"
	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vcenter"
)

// TestVCentersThroughVault: vCenters added, refreshed and removed through the vault's API (with
// the --vault forms of osr vcenter) reach a running configuration server as desired state; the
// VMs it discovers in govmomi's simulator (over TLS) are listed by the vault with their vCenter
// fields; a VM destroyed in the simulator disappears from the vault's list after a refresh; wrong
// credentials show Disconnected with the exact error through the vault.
func TestVCentersThroughVault(t *testing.T) {
	v := vaulttest.StartVault(t)
	ctx := context.Background()
	tmp := t.TempDir()
	token, err := v.Svc.Bootstrap(ctx)
	if err != nil || token == "" {
		t.Fatalf("bootstrap: %q %v", token, err)
	}
	tokenFile, caFile := filepath.Join(tmp, "token"), filepath.Join(tmp, "ca.pem")
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	os.WriteFile(caFile, v.Svc.RootCAPEM(), 0o600)
	keyFile := filepath.Join(tmp, "vault.key")
	os.WriteFile(keyFile, []byte(v.Key(t)+"\n"), 0o600)

	p := &inproc{t: t, clock: clock.Real{}}
	data := filepath.Join(tmp, "cs")
	p.ok("config-server", "install", "--registration-key", keyFile, "--cache-dir", filepath.Join(tmp, "cache"), "--port", port(t),
		"--api-port", port(t), "--data-dir", data, "--listen-address", "127.0.0.1", "--name", "cs1", "--health-listen", "127.0.0.1:"+port(t))
	pw, wrong := filepath.Join(tmp, "pw"), filepath.Join(tmp, "wrong")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	os.WriteFile(wrong, []byte("not it\n"), 0o600)
	p.ok("account", "add", "--data-dir", data, "--name", "vc", "--type", "vcenter", "--user", "ro@vsphere.local", "--password-file", pw)
	p.ok("account", "add", "--data-dir", data, "--name", "vc-wrong", "--type", "vcenter", "--user", "ro@vsphere.local", "--password-file", wrong)

	m := simulator.VPX()
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	defer m.Remove()
	m.Service.TLS = new(tls.Config)
	m.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword("ro@vsphere.local", "s3cret")}
	srv := m.Service.NewServer()
	defer srv.Close()
	host, sport, _ := net.SplitHostPort(srv.URL.Host)
	tp := vcenter.Thumbprint(srv.Certificate())

	sctx, cancel := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() {
		defer close(served)
		p.run(sctx, "config-server", "serve", "--data-dir", data, "--vault-interval", "1s")
	}()
	defer func() { cancel(); <-served }()
	waitFor(t, filepath.Join(data, configserver.AdminSocket))

	api := []string{"--vault", "lab", "--server", v.URL, "--token-file", tokenFile, "--ca-file", caFile, "--wait", "60s"}
	run := func(args ...string) (string, string, int) {
		t.Helper()
		return p.run(ctx, append(args, api...)...)
	}
	t0 := time.Now()
	out, errOut, code := run("vcenter", "add", "--name", "vc1", "--address", host, "--port", sport, "--account", "vc")
	want := fmt.Sprintf("Certificate of %s: SHA-256 %s (pinned at the first connection; compare it with the one vCenter shows)\nvCenter vc1 added: Connected, 4 virtual machines (configuration server cs1)\n", host, tp)
	if code != 0 || out != want {
		t.Fatalf("vcenter add --vault: exit %d\n%s%s\nwant\n%s", code, out, errOut, want)
	}
	t.Logf("vCenter added through the vault and synced in %s", time.Since(t0))

	machines := func() map[string]vault.Machine {
		t.Helper()
		ms, err := v.Svc.ListMachines(ctx, "lab")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]vault.Machine{}
		for _, m := range ms {
			out[m.Name] = m
		}
		return out
	}
	// The inventory reaches the vault a moment after the vCenter's report (same heartbeat).
	var ms map[string]vault.Machine
	for i := 0; ; i++ {
		if ms = machines(); len(ms) == 4 {
			break
		}
		if i > 100 {
			t.Fatalf("vault machines: %+v", ms)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, name := range []string{"dc0-c0-rp0-vm0", "dc0-c0-rp0-vm1", "dc0-h0-vm0", "dc0-h0-vm1"} {
		vm, ok := ms[name]
		if !ok || vm.Source != "vcenter" || vm.VCenter != "vc1" || vm.ConfigServer != "cs1" || vm.PowerState != "poweredOn" || vm.Host == "" ||
			vm.GuestOS == "" || vm.InstanceUUID == "" || len(vm.Datastores) != 1 || vm.Datastores[0] != "LocalDS_0" || len(vm.Disks) == 0 ||
			vm.Disks[0].SizeBytes <= 0 || vm.Disks[0].Datastore != "LocalDS_0" || vm.Hardware == nil || vm.Hardware.CPUs < 1 || vm.Hardware.MemoryMB < 1 ||
			strings.ToLower(strings.ReplaceAll(vm.VMName, "_", "-")) != name || vm.Agent || vm.Protected {
			t.Errorf("vault machine %s: %+v", name, vm)
		}
		if strings.HasPrefix(name, "dc0-c0") != (vm.Cluster == "DC0_C0") {
			t.Errorf("vault machine %s cluster %q", name, vm.Cluster)
		}
	}
	out = p.ok(append([]string{"vcenter", "list"}, api...)...)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") ||
		strings.Join(strings.Fields(lines[1])[:6], " ") != fmt.Sprintf("vc1 cs1 %s:%s vc Connected 4", host, sport) || !strings.HasSuffix(strings.Join(strings.Fields(lines[1]), " "), " - -") {
		t.Fatalf("vcenter list --vault:\n%s", out)
	}

	// A VM destroyed in vCenter: after a refresh through the vault, the vault no longer lists it.
	c, err := vcenter.Connect(ctx, vcenter.Endpoint{Address: host, Port: atoi(t, sport), User: "ro@vsphere.local", Password: "s3cret", Thumbprint: tp})
	if err != nil {
		t.Fatal(err)
	}
	finder := find.NewFinder(c.Client(), true)
	dc, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	finder.SetDatacenter(dc)
	gone, err := finder.VirtualMachine(ctx, "DC0_H0_VM1")
	if err != nil {
		t.Fatal(err)
	}
	task, err := gone.PowerOff(ctx)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err == nil {
		task, err = gone.Destroy(ctx)
	}
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	out = p.ok(append([]string{"vcenter", "refresh", "vc1"}, api...)...)
	if out != "vCenter vc1 refreshed: Connected, 3 virtual machines (configuration server cs1)\n" {
		t.Fatalf("vcenter refresh --vault: %q", out)
	}
	for i := 0; ; i++ {
		ms = machines()
		if _, still := ms["dc0-h0-vm1"]; !still && len(ms) == 3 {
			break
		}
		if i > 100 {
			t.Fatalf("destroyed VM still listed by the vault: %+v", ms)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Wrong credentials: added, Disconnected with the exact error, exit 1.
	out, errOut, code = run("vcenter", "add", "--name", "vc2", "--address", "localhost", "--port", sport, "--account", "vc-wrong", "--thumbprint", tp)
	wantErr := fmt.Sprintf("vcenter vc2: log in to localhost:%s as ro@vsphere.local: wrong user name or password", sport)
	if code != 1 || out != "vCenter vc2 added: Disconnected, 0 virtual machines (configuration server cs1)\n" || errOut != "osr: "+wantErr+"\n" {
		t.Fatalf("vcenter add with wrong credentials: exit %d %q %q", code, out, errOut)
	}
	got, err := v.Svc.GetVCenter(ctx, "lab", "vc2")
	if err != nil || got.Status != vault.VCenterDisconnected || got.Error != wantErr || got.Pending != "" {
		t.Fatalf("vault's vc2: %+v %v", got, err)
	}
	var listed []vault.VCenterView
	if err := json.Unmarshal([]byte(p.ok(append([]string{"vcenter", "list", "--json"}, api...)...)), &listed); err != nil || len(listed) != 2 ||
		listed[1].Name != "vc2" || listed[1].Status != "Disconnected" || listed[1].Error != wantErr {
		t.Fatalf("vcenter list --vault --json: %+v %v", listed, err)
	}
	// osr infrastructure --from-vault shows the vault's vCenters beside their configuration server.
	out = p.ok("infrastructure", "--from-vault", "--vault", "lab", "--server", v.URL, "--token-file", tokenFile, "--ca-file", caFile)
	if !strings.Contains(out, "vc2") || !strings.Contains(out, "vCenter") || !strings.Contains(out, wantErr+"; 0 VMs") {
		t.Fatalf("infrastructure --from-vault:\n%s", out)
	}
	// Errors of the API come back word for word.
	if _, errOut, code := run("vcenter", "add", "--name", "vc3", "--address", host, "--port", sport, "--account", "vc"); code != 1 ||
		errOut != fmt.Sprintf("osr: vcenter vc3: %s:%s is already added as vc1\n", host, sport) {
		t.Fatalf("duplicate address: %d %q", code, errOut)
	}

	// Removal through the vault: the vCenter and its VMs go from the vault's lists.
	out = p.ok(append([]string{"vcenter", "remove", "vc1"}, api...)...)
	if out != "vCenter vc1 removed\n" {
		t.Fatalf("vcenter remove --vault: %q", out)
	}
	for i := 0; ; i++ {
		if ms = machines(); len(ms) == 0 {
			break
		}
		if i > 100 {
			t.Fatalf("VMs of a removed vCenter still listed: %+v", ms)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := v.Svc.GetVCenter(ctx, "lab", "vc1"); err == nil || err.Error() != "vcenter vc1 does not exist in vault lab" {
		t.Fatalf("removed vc1: %v", err)
	}
	// The configuration server's own list agrees.
	out = p.ok("vcenter", "list", "--data-dir", data)
	if strings.Contains(out, "vc1") || !strings.Contains(out, "vc2") {
		t.Fatalf("local vcenter list:\n%s", out)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}
