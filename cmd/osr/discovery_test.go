package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/vmware/govmomi/simulator"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver/vaulttest"
	"github.com/opensiterecovery/osr/internal/installrepo"
	"github.com/opensiterecovery/osr/internal/pushinstall"
	"github.com/opensiterecovery/osr/internal/vcenter"
)

// runDiscovery runs the discovery commands as rootCommand registers them (vcenter, machines at the top,
// push/uninstall/repo/fetch under mobility).
func runDiscovery(t *testing.T, clk clock.Clock, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, clock: clk, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	root := &cobra.Command{Use: "osr", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(a.discoveryCommands()...)
	mob := &cobra.Command{Use: "mobility"}
	mob.AddCommand(a.mobilityDeployCommands()...)
	root.AddCommand(mob)
	root.SetArgs(args)
	code := 0
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = exitCode(err)
		errb.WriteString("osr: " + err.Error() + "\n")
	}
	return out.String(), errb.String(), code
}

func TestDiscoveryCommands(t *testing.T) {
	v := vaulttest.StartVault(t)
	tmp := t.TempDir()
	keyFile := filepath.Join(tmp, "vault.key")
	os.WriteFile(keyFile, []byte(v.Key(t)+"\n"), 0o600)
	fake := clock.NewFake(time.Now().UTC().Truncate(time.Second))
	synced := fake.Now().Format(time.RFC3339)
	p := &inproc{t: t, clock: fake}
	data := filepath.Join(tmp, "cs")
	p.ok("config-server", "install", "--registration-key", keyFile, "--cache-dir", filepath.Join(tmp, "cache"), "--port", port(t),
		"--api-port", port(t), "--data-dir", data, "--listen-address", "127.0.0.1", "--name", "cs1")
	pw := filepath.Join(tmp, "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	p.ok("account", "add", "--data-dir", data, "--name", "vc", "--type", "vcenter", "--user", "ro@vsphere.local", "--password-file", pw)
	p.ok("account", "add", "--data-dir", data, "--name", "linux", "--type", "ssh", "--user", "root", "--password-file", pw)

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

	// One VM reports an address through VMware Tools: it can be pushed to.
	mapr := m.Map()
	for _, obj := range mapr.All("VirtualMachine") {
		if vm := obj.(*simulator.VirtualMachine); vm.Name == "DC0_H0_VM1" {
			mapr.WithLock(m.Service.Context, vm.Reference(), func() { vm.Guest.IpAddress = "10.20.0.9" })
		}
	}

	ok := func(args ...string) string {
		t.Helper()
		out, errOut, code := runDiscovery(t, fake, args...)
		if code != 0 {
			t.Fatalf("osr %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	out := ok("vcenter", "add", "--data-dir", data, "--name", "vc1", "--address", host, "--port", sport, "--account", "vc")
	want := fmt.Sprintf("Certificate of %s: SHA-256 %s (pinned; compare it with the one vCenter shows)\nvCenter vc1 added: Connected, 4 virtual machines\n", host, tp) +
		"  added DC0_C0_RP0_VM0\n  added DC0_C0_RP0_VM1\n  added DC0_H0_VM0\n  added DC0_H0_VM1\n"
	if out != want {
		t.Fatalf("vcenter add:\n%s\nwant\n%s", out, want)
	}
	out = ok("vcenter", "list", "--data-dir", data)
	if !hasRow(out, "vc1", host+":"+sport, "vc", "Connected", "4", synced, "-") {
		t.Fatalf("vcenter list:\n%s", out)
	}
	// The account pushes to the vCenter's VMs use, when osr mobility push has no --account.
	inv, _ := vcenter.Open(data, fake)
	res := pushinstall.Resolver{Inventory: inv}
	if _, err := res.Resolve(context.Background(), "dc0-h0-vm1"); err == nil || err.Error() !=
		"machine dc0-h0-vm1 was discovered in vCenter vc1: give --account, the ssh account to push with, or set the vCenter's (osr vcenter set vc1 --push-account)" {
		t.Fatalf("resolve without a push account: %v", err)
	}
	if out := ok("vcenter", "set", "--data-dir", data, "vc1", "--push-account", "linux"); out != "vCenter vc1: VMs are pushed with account linux\n" {
		t.Fatalf("vcenter set: %q", out)
	}
	if tg, err := res.Resolve(context.Background(), "dc0-h0-vm1"); err != nil || tg.Address != "10.20.0.9" || tg.Account != "linux" || tg.Machine != "dc0-h0-vm1" {
		t.Fatalf("resolve with the push account: %+v %v", tg, err)
	}
	if _, errOut, code := runDiscovery(t, fake, "vcenter", "set", "--data-dir", data, "vc1", "--push-account", "vc"); code != 1 ||
		errOut != "osr: account vc is a vcenter account; pushing to VMs needs an ssh account\n" {
		t.Fatalf("vcenter set with a vcenter account: %d %q", code, errOut)
	}

	// The wrong account: added, Disconnected, exit 1 with the reason.
	_, errOut, code := runDiscovery(t, fake, "vcenter", "add", "--data-dir", data, "--name", "vc2", "--address", host, "--port", sport, "--account", "linux", "--thumbprint", tp)
	if code != 1 || errOut != "osr: account linux is a ssh account; vCenter discovery needs a vcenter account\n" {
		t.Fatalf("vcenter add with an ssh account: %d %q", code, errOut)
	}

	ok("machines", "add", "--data-dir", data, "--address", "10.0.0.7", "--account", "linux", "--name", "db01")
	if _, errOut, code := runDiscovery(t, fake, "machines", "add", "--data-dir", data, "--address", "10.0.0.8", "--account", "vc"); code != 1 ||
		errOut != "osr: account vc is a vcenter account; a machine needs an ssh or windows account\n" {
		t.Fatalf("machines add with vcenter account: %d %q", code, errOut)
	}
	out = ok("machines", "list", "--data-dir", data)
	if !hasRow(out, "db01", "physical", "-", "10.0.0.7", "-", "-", "0", "-") || !hasRow(out, "dc0-h0-vm0", "vcenter:vc1", "DC0_H0_VM0", "-", "otherGuest", "poweredOn", "1", "10.0 GiB") || strings.Count(out, "vcenter:vc1") != 4 {
		t.Fatalf("machines list:\n%s", out)
	}
	var rows []machineRow
	if err := json.Unmarshal([]byte(ok("machines", "list", "--data-dir", data, "--json")), &rows); err != nil || len(rows) != 5 || rows[1].Disks == 0 || rows[1].SizeBytes == 0 {
		t.Fatalf("machines list --json: %+v %v", rows, err)
	}

	// The vCenter goes away: refresh fails, exit 1, Disconnected; the last list is kept.
	srv.Close()
	fake.Advance(time.Hour)
	_, errOut, code = runDiscovery(t, fake, "vcenter", "refresh", "--data-dir", data, "vc1")
	if code != 1 || errOut != fmt.Sprintf("osr: vcenter vc1: connect to %s:%s: connect: connection refused\n", host, sport) {
		t.Fatalf("refresh of a stopped vCenter: %d %q", code, errOut)
	}
	out = ok("vcenter", "list", "--data-dir", data)
	if !hasRow(out, "vc1", host+":"+sport, "vc", "Disconnected", "4", synced, fmt.Sprintf("vcenter vc1: connect to %s:%s: connect: connection refused", host, sport)) {
		t.Fatalf("vcenter list after a failed refresh:\n%s", out)
	}
	ok("vcenter", "remove", "--data-dir", data, "vc1")
	if _, errOut, code := runDiscovery(t, fake, "vcenter", "remove", "--data-dir", data, "vc1"); code != 1 || errOut != "osr: vcenter vc1: not found\n" {
		t.Fatalf("second remove: %d %q", code, errOut)
	}

	// The install repository: add, list, and a manual fetch that refuses a wrong checksum (exit 5).
	build := filepath.Join(tmp, "build")
	os.WriteFile(build, []byte("agent build"), 0o755)
	sumLine := ok("mobility", "repo", "add", "--data-dir", data, "--platform", "linux/arm64", "--file", build)
	if got := ok("mobility", "repo", "list", "--data-dir", data); got != sumLine || !strings.HasSuffix(sumLine, "  linux-arm64/osr\n") {
		t.Fatalf("repo list %q, add said %q", got, sumLine)
	}
	repo, _ := installrepo.Open(filepath.Join(data, "agents"))
	hs := httptest.NewTLSServer(repo.Handler(nil))
	defer hs.Close()
	dest := filepath.Join(tmp, "bin", "osr")
	wrong := strings.Repeat("1", 64)
	_, errOut, code = runDiscovery(t, fake, "mobility", "fetch", "--from", hs.URL, "--platform", "linux/arm64", "--sha256", wrong, "--out", dest)
	sum := strings.Fields(sumLine)[0]
	if code != 5 || errOut != fmt.Sprintf("osr: checksum mismatch for linux-arm64/osr: the repository lists %s, expected %s; nothing was installed\n", sum, wrong) {
		t.Fatalf("fetch with a wrong checksum: %d %q", code, errOut)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatal("a refused fetch installed the binary")
	}
	out = ok("mobility", "fetch", "--from", hs.URL, "--platform", "linux/arm64", "--sha256", sum, "--out", dest)
	if b, _ := os.ReadFile(dest); string(b) != "agent build" || out != fmt.Sprintf("linux/arm64 build %s installed at %s\n", sum, dest) {
		t.Fatalf("fetch: %q %q", b, out)
	}
}
