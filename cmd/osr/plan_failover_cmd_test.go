package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/bootcheck/bootdisk"
	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/drill"
	"github.com/opensiterecovery/osr/internal/failover"
	"github.com/opensiterecovery/osr/internal/recoveryplan"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/vault"
)

// planCLI is a vault service with the failover, recovery-plan and drill endpoints wired as the
// vault commands wire them, three protected machines whose one recovery point each is the
// bootable test disk (replicated into the vault's store), a local target, and the plan and
// drill commands run in-process.
type planCLI struct {
	cliHarness
	dir string
	vs  *vault.Service
	out string // the local target's directory
}

func newPlanCLI(t *testing.T) *planCLI {
	t.Helper()
	dir := t.TempDir()
	disk := filepath.Join(dir, "boot.raw")
	start := time.Now()
	if err := bootdisk.Build(context.Background(), disk, bootdisk.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("boot disk built in %s", time.Since(start).Round(time.Millisecond))
	img, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OSR_DATA_DIR": dir, "OSR_BOOTCHECK_MARKER": bootdisk.DefaultMarker, "OSR_BOOTCHECK_TIMEOUT": "5m"}
	a := &app{stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string { return env[k] }, clock: clock.Real{}, logger: slog.New(slog.DiscardHandler)}
	cfg := testVaultConfig(dir, "", ln)
	bindFo, bindPlans := a.withFailover(&cfg), a.withPlans(&cfg)
	var fs *failover.Service
	vs, ctx := serveTestVault(t, dir, ln, cfg, func(vs *vault.Service) (func(), error) {
		var err error
		if fs, err = bindFo(vs); err != nil {
			return nil, err
		}
		ps, err := bindPlans(vs, fs)
		if err != nil {
			fs.Close()
			return nil, err
		}
		return func() { ps.Close(); fs.Close() }, nil
	})
	c := &planCLI{dir: dir, vs: vs, out: filepath.Join(dir, "out"), cliHarness: cliHarness{t: t, env: env, add: func(a *app, root *cobra.Command) {
		root.AddCommand(a.capacityCommands()...)
		a.addPlanCommands(root)
		root.AddCommand(a.drillCommands()...)
	}}}
	c.setup(ctx, fs, img)
	return c
}

func (c *planCLI) setup(ctx context.Context, fs *failover.Service, img []byte) {
	t, vs := c.t, c.vs
	cs := labWithCS(t, ctx, vs, c.dir)
	machines := []string{"db01", "web01", "web02"}
	var inv vault.Inventory
	for _, m := range machines {
		inv.Machines = append(inv.Machines, vault.Machine{Name: m, OS: "linux", Source: "agent",
			Disks: []vault.MachineDisk{{Name: "sda", SizeBytes: int64(len(img))}}, Hardware: &vault.Hardware{CPUs: 1, MemoryMB: 256}})
	}
	if err := vs.ConfigServerInventory(cs, inv); err != nil {
		t.Fatal(err)
	}
	goldPolicy(t, ctx, vs)
	_, repo, err := vs.VaultRepo(ctx, "lab")
	if err != nil {
		t.Fatal(err)
	}
	var reports []vault.ItemReport
	for _, m := range machines {
		if _, err := vs.EnableReplication(ctx, "lab", vault.EnableRequest{Machine: m, Policy: "gold"}); err != nil {
			t.Fatal(err)
		}
		w, err := repo.NewWriter(ctx, m, nil, []store.DiskSpec{{Name: "sda", Size: int64(len(img))}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Disk("sda").WriteAt(img, 0); err != nil {
			t.Fatal(err)
		}
		pt, err := w.Commit(ctx, store.CommitMeta{Time: time.Now().Add(-time.Minute), Consistency: store.CrashConsistent})
		if err != nil {
			t.Fatal(err)
		}
		lpt := pt.Time
		reports = append(reports, vault.ItemReport{Machine: m, State: vault.StateProtected, InitialPercent: 100, LastPointTime: &lpt, LastPointID: pt.ID})
	}
	if _, err := vs.ConfigServerHeartbeat(cs, vault.Heartbeat{Time: time.Now(), Items: reports}); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.AddMapping(ctx, "lab", failover.AddMappingRequest{SourceNetwork: "default", TargetNetwork: "dr-net", TestNetwork: "test-net", IPMode: "dhcp"}); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.AddTarget(ctx, "lab", failover.AddTargetRequest{Name: "local1", Provider: "local", Settings: map[string]string{"dir": c.out}}); err != nil {
		t.Fatal(err)
	}
}

// TestPlanAndDrillCLI: a plan of 3 machines in 2 groups, each machine's recovery point the
// bootable test disk, test-fails over through the real failover service and local provider with
// scripts and a boot check of every machine, reports per machine and cleans up; a drill of one
// machine (its boot check is tested in internal/drill) runs and reports its RTO.
func TestPlanAndDrillCLI(t *testing.T) {
	c := newPlanCLI(t)
	log := filepath.Join(c.dir, "order.log")
	script := func(name string) string {
		p := filepath.Join(c.dir, name)
		body := fmt.Sprintf("#!/bin/sh\necho \"$OSR_PLAN_STEP $OSR_PLAN_GROUP $OSR_PLAN_OPERATION: $(ls %s 2>/dev/null | wc -l) runs\" >> %s\n", c.out, log)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c.fails("group 2: machine web09 is not protected in vault lab", "plan", "create", "shop", "--group", "db01", "--group", "web01,web09")
	c.fails("machine web01 is in group 1 and group 2", "plan", "create", "shop", "--group", "db01,web01", "--group", "web01")
	if got := c.ok("plan", "create", "shop", "--group", "db01", "--group", "web01,web02", "--group-name", "1=db", "--group-name", "2=web",
		"--before", "1="+script("b1.sh"), "--after", "1="+script("a1.sh"), "--after", "2="+script("a2.sh")); got != "recovery plan shop created: 2 groups, 3 machines\n" {
		t.Fatalf("create: %q", got)
	}
	if got := c.ok("plan", "list"); !strings.Contains(got, "shop  2       3         ") {
		t.Fatalf("list:\n%s", got)
	}
	start := time.Now()
	out := c.ok("plan", "test", "shop", "--verify-boot", "--json")
	t.Logf("plan test failover of 3 machines with boot checks: %s", time.Since(start).Round(time.Millisecond))
	var run recoveryplan.Run
	if err := json.Unmarshal([]byte(out), &run); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if run.State != recoveryplan.StateSucceeded {
		t.Fatalf("run %+v", run)
	}
	for _, m := range run.Machines() {
		if m.State != recoveryplan.StateSucceeded || m.PointID == "" || m.BootSeconds <= 0 {
			t.Fatalf("machine %+v", m)
		}
		t.Logf("%s: test failover + boot %.1fs, boot check %.1fs", m.Machine, m.Seconds, m.BootSeconds)
	}
	b, _ := os.ReadFile(log)
	if got := string(b); got != "before 1 test-failover: 0 runs\nafter 1 test-failover: 1 runs\nafter 2 test-failover: 3 runs\n" {
		t.Fatalf("script log:\n%s", got)
	}
	show := c.ok("plan", "show", "shop")
	for _, want := range []string{"  1. db: db01\n", "  2. web: web01, web02\n", "run " + run.ID + ": test-failover, succeeded (done)"} {
		if !strings.Contains(show, want) {
			t.Fatalf("show lacks %q:\n%s", want, show)
		}
	}
	c.ok("plan", "cleanup", "shop")
	if ents, _ := os.ReadDir(c.out); len(ents) != 0 {
		t.Fatalf("cleanup left %v", ents)
	}

	if got := c.ok("drill", "schedule", "web01", "--cron", "30 2 * * sun"); !strings.HasPrefix(got, "drill web01 of machine web01 scheduled (30 2 * * sun); next run ") {
		t.Fatalf("schedule: %q", got)
	}
	c.fails("vault lab has no recovery plan and no protected machine named nope", "drill", "schedule", "nope", "--cron", "@daily")
	c.fails(`cron "0 0 31 feb *" never fires`, "drill", "schedule", "shop", "--cron", "0 0 31 feb *")
	out = c.ok("drill", "run", "web01", "--json")
	var rep drill.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !rep.Success || len(rep.Machines) != 1 || rep.Machines[0].Booted != nil || rep.Machines[0].PointID == "" || rep.RTOSeconds <= 0 {
		t.Fatalf("report %+v", rep)
	}
	t.Logf("drill of web01: RTO %.2fs (test failover of a 32 MiB disk to local raw)", rep.RTOSeconds)
	if got := c.ok("drill", "report", "web01"); !strings.Contains(got, ": succeeded, RTO ") {
		t.Fatalf("report:\n%s", got)
	}
	if got := c.ok("drill", "list"); !strings.Contains(got, "web01  machine web01  30 2 * * sun  no  ") {
		t.Fatalf("drill list:\n%s", got)
	}
	if ents, _ := os.ReadDir(c.out); len(ents) != 0 {
		t.Fatalf("drill cleanup left %v", ents)
	}
	c.ok("drill", "delete", "web01")
	c.ok("plan", "delete", "shop")
	c.fails("recovery plan shop does not exist in vault lab", "plan", "show", "shop")
}
