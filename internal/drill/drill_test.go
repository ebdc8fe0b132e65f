package drill_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/bootcheck"
	"github.com/opensiterecovery/osr/internal/bootcheck/bootdisk"
	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/drill"
	"github.com/opensiterecovery/osr/internal/recoveryplan"
	"github.com/opensiterecovery/osr/internal/recoveryplan/plantest"
	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/db/pgtest"
)

var (
	diskOnce sync.Once
	diskDir  string
	diskErr  error
)

var pg *pgtest.Server

func TestMain(m *testing.M) {
	var err error
	if pg, err = pgtest.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start postgresql:", err)
		os.Exit(1)
	}
	code := m.Run()
	pg.Stop()
	if diskDir != "" {
		os.RemoveAll(diskDir)
	}
	os.Exit(code)
}

// bootDisks returns a bootable test disk and one whose boot fails, built once.
func bootDisks(t *testing.T) (good, broken string) {
	t.Helper()
	diskOnce.Do(func() {
		if diskDir, diskErr = os.MkdirTemp("", "osr-drill-test-"); diskErr != nil {
			return
		}
		good := filepath.Join(diskDir, "boot.raw")
		if diskErr = bootdisk.Build(context.Background(), good, bootdisk.Options{}); diskErr != nil {
			return
		}
		// The broken disk boots its kernel, whose init exits: a kernel panic, and qemu ends.
		diskErr = bootdisk.Build(context.Background(), filepath.Join(diskDir, "panic.raw"), bootdisk.Options{Init: "#!/bin/busybox sh\necho init gives up\nexit 1\n"})
	})
	if diskErr != nil {
		t.Fatalf("boot disk: %v", diskErr)
	}
	return filepath.Join(diskDir, "boot.raw"), filepath.Join(diskDir, "panic.raw")
}

type env struct {
	clk    *clock.Fake
	v      *vault.Service
	f      *plantest.LocalFailover
	plans  *recoveryplan.Service
	drills *drill.Service
	ctx    context.Context
}

func newEnv(t *testing.T, bootTimeout time.Duration, machines ...string) *env {
	t.Helper()
	return newEnvDB(t, "", bootTimeout, machines...)
}

func newEnvDB(t *testing.T, dsn string, bootTimeout time.Duration, machines ...string) *env {
	t.Helper()
	good, _ := bootDisks(t)
	clk := clock.NewFake(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	v := plantest.NewVaultDB(t, clk, dsn, machines...)
	f := &plantest.LocalFailover{Vault: v, Dir: filepath.Join(t.TempDir(), "target"), Disk: good}
	bc, err := bootcheck.New(bootcheck.Config{Markers: []string{bootdisk.DefaultMarker}, Timeout: bootTimeout, MaxMemoryMB: 256, TailLines: 80}, bootcheck.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	plans, err := recoveryplan.New(recoveryplan.Config{Vault: v, Failover: f, BootCheck: bc, PollInterval: 20 * time.Millisecond}, recoveryplan.Deps{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plans.Close() })
	drills, err := drill.New(drill.Config{Vault: v, Plans: plans, Failover: f, BootCheck: bc}, drill.Deps{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drills.Close() })
	return &env{clk: clk, v: v, f: f, plans: plans, drills: drills, ctx: context.Background()}
}

// TestMachineDrillFiresOnSchedule: a drill fires at its cron instant of the fake clock, not a
// second before; it fails the machine over for a test, boots it, cleans up, and keeps a report.
func TestMachineDrillFiresOnSchedule(t *testing.T) {
	e := newEnv(t, 5*time.Minute, "web01")
	d, err := e.drills.Create(e.ctx, plantest.VaultName, drill.CreateRequest{Machine: "web01", Cron: "30 2 * * *", Options: drill.Options{VerifyBoot: true, Network: "drill-net"}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "web01" || d.NextRun.Format(time.RFC3339) != "2026-12-02T02:30:00Z" {
		t.Fatalf("drill %+v", d)
	}
	e.clk.Set(time.Date(2026, 12, 2, 2, 29, 59, 0, time.UTC))
	if n, err := e.drills.Tick(e.ctx); n != 0 || err != nil {
		t.Fatalf("tick before the instant: %d %v", n, err)
	}
	e.clk.Set(time.Date(2026, 12, 2, 2, 30, 0, 0, time.UTC))
	if n, err := e.drills.Tick(e.ctx); n != 1 || err != nil {
		t.Fatalf("tick at the instant: %d %v", n, err)
	}
	if n, _ := e.drills.Tick(e.ctx); n != 0 {
		t.Fatal("fired twice")
	}
	e.drills.Wait()
	reps, err := e.drills.Reports(e.ctx, plantest.VaultName, "web01", 0)
	if err != nil || len(reps) != 1 {
		t.Fatalf("reports %v %v", reps, err)
	}
	r := reps[0]
	if !r.Success || r.Error != "" || r.Scheduled.Format(time.RFC3339) != "2026-12-02T02:30:00Z" || len(r.Machines) != 1 {
		t.Fatalf("report %+v", r)
	}
	m := r.Machines[0]
	if m.Machine != "web01" || m.PointID != "pt-1" || m.Booted == nil || !*m.Booted || m.BootSeconds <= 0 || m.RTOSeconds <= 0 || m.CleanupError != "" {
		t.Fatalf("machine report %+v", m)
	}
	t.Logf("drill of web01: RTO %.2fs, boot check %.2fs", m.RTOSeconds, m.BootSeconds)
	calls := e.f.Calls()
	if len(calls) != 2 || calls[0].Op != "test-failover" || calls[0].Opts.Network != "drill-net" || calls[1].Op != "cleanup" {
		t.Fatalf("calls %+v", calls)
	}
	if ents, _ := os.ReadDir(e.f.Dir); len(ents) != 0 {
		t.Fatalf("cleanup left %v", ents)
	}
	if d, _ = e.drills.Get(e.ctx, plantest.VaultName, "web01"); d.NextRun.Format(time.RFC3339) != "2026-12-03T02:30:00Z" {
		t.Fatalf("next run %s", d.NextRun)
	}
	v, _ := e.v.GetVault(e.ctx, plantest.VaultName)
	evs, _ := e.v.ListEvents(e.ctx, v.ID, 10)
	found := false
	for _, ev := range evs {
		found = found || (ev.Kind == "drill" && strings.HasPrefix(ev.Message, "drill web01 succeeded: RTO "))
	}
	if !found {
		t.Fatalf("no drill event in %+v", evs)
	}
}

// TestPlanDrillReportsBootFailure: a plan drill with a machine that does not boot (its kernel
// panics) reports it, with the console's last lines, and still cleans up both machines.
func TestPlanDrillReportsBootFailure(t *testing.T) {
	_, broken := bootDisks(t)
	e := newEnv(t, 5*time.Minute, "db01", "web01")
	e.f.Disks = map[string]string{"web01": broken}
	if _, err := e.plans.Create(e.ctx, plantest.VaultName, recoveryplan.CreateRequest{Name: "shop", Groups: []recoveryplan.Group{
		{Name: "shop", Machines: []string{"db01", "web01"}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.drills.Create(e.ctx, plantest.VaultName, drill.CreateRequest{Name: "shop-weekly", Plan: "shop", Cron: "0 3 * * sun", Options: drill.Options{VerifyBoot: true}}); err != nil {
		t.Fatal(err)
	}
	e.clk.Set(time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC))
	if n, err := e.drills.Tick(e.ctx); n != 1 || err != nil {
		t.Fatalf("tick: %d %v", n, err)
	}
	e.drills.Wait()
	reps, err := e.drills.Reports(e.ctx, plantest.VaultName, "shop-weekly", 0)
	if err != nil || len(reps) != 1 {
		t.Fatalf("reports %v %v", reps, err)
	}
	r := reps[0]
	if r.Success || r.PlanRun == "" || len(r.Machines) != 2 {
		t.Fatalf("report %+v", r)
	}
	web := r.Machines[1]
	wantBoot := "boot check of web01: qemu exited before a marker appeared (exit status 0); last console lines:\n  " + strings.Join(web.Console, "\n  ")
	want := "test failover of plan shop: group 1 (shop): 1 of 2 machines failed: web01: " + wantBoot
	if r.Error != want {
		t.Fatalf("error:\n%s\nwant:\n%s", r.Error, want)
	}
	if web.Booted == nil || *web.Booted || web.Error != wantBoot || !strings.Contains(strings.Join(web.Console, "\n"), "init gives up") || !strings.Contains(strings.Join(web.Console, "\n"), "Kernel panic") {
		t.Fatalf("web01 report %+v", web)
	}
	db := r.Machines[0]
	if db.Booted == nil || !*db.Booted || db.BootSeconds <= 0 || db.Error != "" {
		t.Fatalf("db01 report %+v", db)
	}
	cleaned := map[string]bool{}
	for _, c := range e.f.Calls() {
		if c.Op == "cleanup" {
			cleaned[c.Machine] = true
		}
	}
	if !cleaned["db01"] || !cleaned["web01"] {
		t.Fatalf("cleanups %v", cleaned)
	}
	if ents, _ := os.ReadDir(e.f.Dir); len(ents) != 0 {
		t.Fatalf("cleanup left %v", ents)
	}
}

// TestCreateErrors: bad drills give exact errors and store nothing.
func TestCreateErrors(t *testing.T) {
	e := newEnv(t, time.Minute, "web01")
	if _, err := e.drills.Create(e.ctx, plantest.VaultName, drill.CreateRequest{Machine: "web01", Cron: "@daily"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		req    drill.CreateRequest
		status int
		want   string
	}{
		{drill.CreateRequest{Cron: "@daily"}, 400, "a drill needs a recovery plan or a machine"},
		{drill.CreateRequest{Plan: "p", Machine: "web01", Cron: "@daily"}, 400, "a drill is of a recovery plan or of a machine, not both"},
		{drill.CreateRequest{Name: "x", Machine: "web01", Cron: "0 25 * * *"}, 400, `cron "0 25 * * *": hour: 25 is out of range 0-23`},
		{drill.CreateRequest{Name: "x", Machine: "web01", Cron: "@daily", Options: drill.Options{Timezone: "Mars/Olympus"}}, 400, `timezone "Mars/Olympus" is not known`},
		{drill.CreateRequest{Plan: "nope", Cron: "@daily"}, 404, "recovery plan nope does not exist in vault lab"},
		{drill.CreateRequest{Machine: "db09", Cron: "@daily"}, 404, "machine db09 is not protected"},
		{drill.CreateRequest{Machine: "web01", Cron: "@weekly"}, 409, "drill web01 already exists in vault lab"},
		{drill.CreateRequest{Name: "Bad Name", Machine: "web01", Cron: "@weekly"}, 400, `drill name "Bad Name" must be 1-63 characters of a-z, 0-9, '.' and '-', starting with a letter or digit`},
	} {
		_, err := e.drills.Create(e.ctx, plantest.VaultName, tc.req)
		if err == nil || err.Error() != tc.want || vault.StatusOf(err) != tc.status {
			t.Errorf("Create(%+v) = %v (%d)\nwant %s (%d)", tc.req, err, vault.StatusOf(err), tc.want, tc.status)
		}
	}
	if ds, _ := e.drills.List(e.ctx, plantest.VaultName); len(ds) != 1 {
		t.Fatalf("drills %v", ds)
	}
	if err := e.drills.Delete(e.ctx, plantest.VaultName, "web01"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.drills.Get(e.ctx, plantest.VaultName, "web01"); err == nil || err.Error() != "drill web01 does not exist in vault lab" {
		t.Fatalf("get after delete: %v", err)
	}
}

// TestReplicasFireOnce: two drill services on one database (two vault replicas) fire a due drill
// once between them, and a drill missed for days fires once, then waits for its next instant; on
// SQLite and PostgreSQL.
func TestReplicasFireOnce(t *testing.T) {
	for _, eng := range []string{"sqlite", "postgres"} {
		t.Run(eng, func(t *testing.T) {
			dsn := ""
			if eng == "postgres" {
				var err error
				if dsn, err = pg.NewDatabase(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			e := newEnvDB(t, dsn, time.Minute, "web01")
			other, err := drill.New(drill.Config{Vault: e.v, Plans: e.plans, Failover: e.f}, drill.Deps{Clock: e.clk})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if _, err := e.drills.Create(e.ctx, plantest.VaultName, drill.CreateRequest{Machine: "web01", Cron: "0 * * * *"}); err != nil {
				t.Fatal(err)
			}
			e.clk.Set(time.Date(2026, 12, 4, 10, 30, 0, 0, time.UTC)) // 3 days of hourly instants missed
			var fired [2]int
			done := make(chan struct{})
			go func() { fired[1], _ = other.Tick(e.ctx); close(done) }()
			fired[0], _ = e.drills.Tick(e.ctx)
			<-done
			if fired[0]+fired[1] != 1 {
				t.Fatalf("fired %v", fired)
			}
			e.drills.Wait()
			other.Wait()
			reps, _ := e.drills.Reports(e.ctx, plantest.VaultName, "web01", 0)
			if len(reps) != 1 || !reps[0].Success || reps[0].Scheduled.Format(time.RFC3339) != "2026-12-01T11:00:00Z" {
				t.Fatalf("reports %+v", reps)
			}
			d, _ := e.drills.Get(e.ctx, plantest.VaultName, "web01")
			if d.NextRun.Format(time.RFC3339) != "2026-12-04T11:00:00Z" {
				t.Fatalf("next run %s", d.NextRun)
			}
		})
	}
}
