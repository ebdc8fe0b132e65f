package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/apiclient"
	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/vaulttest"
	"github.com/opensiterecovery/osr/internal/e2e/sshhost"
	"github.com/opensiterecovery/osr/internal/processserver"
	"github.com/opensiterecovery/osr/internal/pushinstall"
	"github.com/opensiterecovery/osr/internal/vault"
)

// TestAutomaticPushThroughVault: a physical server added with an account (an OpenSSH host in its
// own network namespace) shows in the vault's machine list without an agent; replication enabled
// through the vault's API pushes the mobility service to it (the configuration server's
// desired-state hook), the agent heartbeats Connected, initial replication completes, and the
// exported recovery point equals the host's disk byte for byte; a server nothing answers on gets
// its push error as its protected item's error in the vault. Bounded to 3 minutes.
func TestAutomaticPushThroughVault(t *testing.T) {
	t0 := time.Now()
	deadline := t0.Add(3 * time.Minute)
	bin := filepath.Join(t.TempDir(), "osr")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	h := sshhost.Start(t, sshhost.Options{})
	v := vaulttest.StartVault(t)
	ctx := context.Background()
	tmp := t.TempDir()
	token, err := v.Svc.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(tmp, "ca.pem")
	os.WriteFile(caFile, v.Svc.RootCAPEM(), 0o600)
	api, err := apiclient.New(&apiclient.Resolved{Server: v.URL, Token: token, CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(tmp, "vault.key")
	os.WriteFile(keyFile, []byte(v.Key(t)+"\n"), 0o600)

	// The cache on its own tmpfs: the process server stops reading below 25% free, which a
	// shared test machine's disk may be.
	cache := filepath.Join(tmp, "cache")
	os.MkdirAll(cache, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8g,mode=0700", "tmpfs", cache).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs for the cache (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", cache).Run() })
	data := filepath.Join(tmp, "cs")
	osr := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("osr %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// The default process server listens on the host's gateway, which the namespace routes to;
	// pushed agents reach the configuration server there too.
	osr("config-server", "install", "--registration-key", keyFile, "--cache-dir", cache, "--port", port(t), "--api-port", port(t),
		"--data-dir", data, "--listen-address", h.Gateway, "--name", "cs1", "--health-listen", "127.0.0.1:"+port(t))
	osr("account", "add", "--data-dir", data, "--name", "src-root", "--type", "ssh", "--user", "root", "--key-file", filepath.Join(h.Dir, "client_key"))
	disk := make([]byte, 4<<20)
	r := rand.New(rand.NewPCG(7, 11))
	for i := range disk {
		disk[i] = byte(r.Uint32())
	}
	img := filepath.Join(h.Dir, "sda.img")
	os.WriteFile(img, disk, 0o600)
	osr("machines", "add", "--data-dir", data, "--address", h.Addr, "--account", "src-root", "--name", "src1", "--disk", "sda="+img, "--install-root", h.Root)
	// A second server at an address nothing answers on: its push fails, and the vault says why.
	unreachable := strings.TrimSuffix(h.Addr, ".2") + ".3"
	osr("machines", "add", "--data-dir", data, "--address", unreachable, "--account", "src-root", "--name", "bad1", "--disk", "sda="+img, "--install-root", h.Root)

	apRun(t, filepath.Join(tmp, "cs.log"), bin, "config-server", "serve", "--data-dir", data, "--vault-interval", "1s")
	waitFor(t, filepath.Join(data, configserver.AdminSocket))
	apRun(t, filepath.Join(tmp, "ps.log"), bin, "process-server", "serve", "--config", filepath.Join(data, configserver.ProcessServerDir, configserver.PSConfigFile))

	// The vault lists the physical server, without an agent.
	machineNamed := func(name string) *vault.Machine {
		ms, err := api.ListMachines(ctx, "lab")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Name == name {
				return &m
			}
		}
		return nil
	}
	machine := func() *vault.Machine { return machineNamed("src1") }
	for m := machine(); m == nil || m.Source != "physical" || m.Agent || len(m.Addresses) != 1 || m.Addresses[0] != h.Addr || machineNamed("bad1") == nil; m = machine() {
		if time.Now().After(deadline) {
			t.Fatalf("vault's src1: %+v", m)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Replication enabled through the vault's API: the agent is pushed and replicates.
	if _, err := api.CreatePolicy(ctx, "lab", vault.CreatePolicyRequest{Name: "gold", RPOThresholdSeconds: 900, RetentionSeconds: 86400,
		AppConsistentSeconds: 3600, CrashConsistentSeconds: 300}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.AssociatePolicy(ctx, "lab", "gold", "cs1"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"src1", "bad1"} {
		if _, err := api.EnableReplication(ctx, "lab", vault.EnableRequest{Machine: m, Policy: "gold"}); err != nil {
			t.Fatal(err)
		}
	}
	hb := pushinstall.AdminSocket{Path: filepath.Join(data, configserver.AdminSocket)}
	for {
		st, _, err := hb.AgentStatus(ctx, "src1")
		if err == nil && st == configserver.Connected {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(tmp, "cs.log"))
			t.Fatalf("pushed agent not Connected: %s %v\nconfiguration server log:\n%s", st, err, tailBytes(log, 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("agent pushed and Connected %s after start", time.Since(t0).Round(time.Millisecond))
	if b, err := os.ReadFile(filepath.Join(h.Root, "opt/osr/bin/osr")); err != nil || len(b) == 0 {
		t.Fatalf("binary on the host: %v", err)
	}
	for {
		it, err := api.GetItem(ctx, "lab", "src1")
		if err == nil && it.State == vault.StateProtected && it.InitialPercent == 100 && it.LastPointID != "" {
			break
		}
		if time.Now().After(deadline) {
			agentLog, _ := os.ReadFile(filepath.Join(h.Root, "var/log/osr/mobility.log"))
			t.Fatalf("initial replication of src1 did not complete: %+v %v\nagent log:\n%s", it, err, tailBytes(agentLog, 4000))
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("initial replication complete %s after start", time.Since(t0).Round(time.Millisecond))
	if m := machine(); m == nil || !m.Agent || !m.Protected {
		t.Fatalf("vault's src1 after the push: %+v", m)
	}
	wantErr := "automatic push of the mobility service failed: machine bad1: connect to " + unreachable + ":22: connect: no route to host"
	for {
		it, err := api.GetItem(ctx, "lab", "bad1")
		if err == nil && it.State == vault.StateEnabling && it.Error == wantErr {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("failed push not shown by the vault: %+v %v\nwant error %s", it, err, wantErr)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if m := machineNamed("bad1"); m == nil || m.Push == nil || m.Push.Error != strings.TrimPrefix(wantErr, "automatic push of the mobility service failed: ") || m.Agent {
		t.Fatalf("vault's bad1: %+v", m)
	}
	pc, err := processserver.LoadConfig(filepath.Join(data, configserver.ProcessServerDir, configserver.PSConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	exported := filepath.Join(t.TempDir(), "sda.raw")
	osr("store", "export", "--repo", pc.Store.Repo, "--password-file", pc.Store.PasswordFile, "--point", "latest", "--machine", "src1", "--disk", "sda", "--out", exported)
	if got, _ := os.ReadFile(exported); !bytes.Equal(got, disk) {
		t.Fatalf("exported disk of src1: %d bytes, differs from the host's disk", len(got))
	}
}

// apRun runs a server process of the built binary until the test ends; its log is shown when the
// test failed.
func apRun(t *testing.T, log, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	f, _ := os.Create(log)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("%s %s:\n%s", filepath.Base(bin), args[0], tailBytes(b, 4000))
		}
	})
}

func tailBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
