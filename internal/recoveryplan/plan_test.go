package recoveryplan_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/recoveryplan"
	"github.com/opensiterecovery/osr/internal/recoveryplan/plantest"
	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/db/pgtest"
)

type env struct {
	t    *testing.T
	v    *vault.Service
	f    *plantest.LocalFailover
	svc  *recoveryplan.Service
	dir  string
	log  string // what the scripts write
	clk  *clock.Fake
	ctx  context.Context
	disk string
}

var pg *pgtest.Server

func TestMain(m *testing.M) {
	var err error
	if pg, err = pgtest.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start postgresql:", err)
		os.Exit(1)
	}
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// engines runs fn on SQLite and on PostgreSQL.
func engines(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "") })
	t.Run("postgres", func(t *testing.T) {
		dsn, err := pg.NewDatabase(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		fn(t, dsn)
	})
}

func newEnv(t *testing.T, machines ...string) *env {
	t.Helper()
	return newEnvDB(t, "", machines...)
}

func newEnvDB(t *testing.T, dsn string, machines ...string) *env {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	v := plantest.NewVaultDB(t, clk, dsn, machines...)
	dir := t.TempDir()
	disk := filepath.Join(dir, "source.raw")
	if err := os.WriteFile(disk, []byte("the source disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &plantest.LocalFailover{Vault: v, Dir: filepath.Join(dir, "target"), Disk: disk}
	os.MkdirAll(f.Dir, 0o755)
	svc, err := recoveryplan.New(recoveryplan.Config{Vault: v, Failover: f, Parallel: 4, PollInterval: 20 * time.Millisecond}, recoveryplan.Deps{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return &env{t: t, v: v, f: f, svc: svc, dir: dir, log: filepath.Join(dir, "order.log"), clk: clk, ctx: context.Background(), disk: disk}
}

// script writes an executable script that appends its step, group, operation, machines and what
// the target directory holds at that moment to the log, then runs extra.
func (e *env) script(name, extra string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	body := fmt.Sprintf("#!/bin/sh\necho \"$OSR_PLAN $OSR_PLAN_STEP $OSR_PLAN_GROUP ($OSR_PLAN_GROUP_NAME) $OSR_PLAN_OPERATION [$OSR_PLAN_MACHINES] sees:$(ls %s | tr '\\n' ' ')\" >> %s\n%s\n", e.f.Dir, e.log, extra)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) logLines() []string {
	b, _ := os.ReadFile(e.log)
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

func (e *env) run(plan, op string, req recoveryplan.RunRequest) *recoveryplan.Run {
	e.t.Helper()
	r, err := e.svc.Start(e.ctx, plantest.VaultName, plan, op, req)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	r, err = e.svc.WaitRun(ctx, plantest.VaultName, r.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) twoGroups(name, extraAfter1 string) {
	e.t.Helper()
	_, err := e.svc.Create(e.ctx, plantest.VaultName, recoveryplan.CreateRequest{Name: name, Groups: []recoveryplan.Group{
		{Name: "db", Machines: []string{"db01"}, Before: e.script("b1.sh", ""), After: e.script("a1.sh", extraAfter1)},
		{Name: "web", Machines: []string{"web01", "web02"}, Before: e.script("b2.sh", ""), After: e.script("a2.sh", "")},
	}})
	if err != nil {
		e.t.Fatal(err)
	}
}

// TestPlanRunsInOrder: 3 machines in 2 groups; the scripts' log proves the order (each script
// sees what the target holds when it runs), the web group runs in parallel, and the run and its
// job report per machine.
func TestPlanRunsInOrder(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) { testPlanRunsInOrder(t, dsn) })
}

func testPlanRunsInOrder(t *testing.T, dsn string) {
	e := newEnvDB(t, dsn, "db01", "web01", "web02")
	e.f.Meet = []string{"web01", "web02"}
	e.twoGroups("shop", "")
	r := e.run("shop", recoveryplan.OpFailover, recoveryplan.RunRequest{Point: "latest-processed", ShutdownSource: true})
	if r.State != recoveryplan.StateSucceeded || r.Error != "" || r.Step != "done" {
		t.Fatalf("run %+v", r)
	}
	want := []string{
		"shop before 1 (db) failover [db01] sees:",
		"shop after 1 (db) failover [db01] sees:db01 ",
		"shop before 2 (web) failover [web01 web02] sees:db01 ",
		"shop after 2 (web) failover [web01 web02] sees:db01 web01 web02 ",
	}
	if got := e.logLines(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("script log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	calls := e.f.Calls()
	if len(calls) != 3 || calls[0].Machine != "db01" || calls[0].Opts != (recoveryplan.MachineOptions{Point: "latest-processed", ShutdownSource: true}) {
		t.Fatalf("calls %+v", calls)
	}
	if !e.f.Met() {
		t.Fatal("web01 and web02 did not run at the same time")
	}
	ms := r.Machines()
	if len(ms) != 3 {
		t.Fatalf("machines %+v", ms)
	}
	for i, m := range ms {
		wantName := []string{"db01", "web01", "web02"}[i]
		if m.Machine != wantName || m.State != recoveryplan.StateSucceeded || m.PointID != "pt-1" || m.JobID == "" || m.Group != []int{1, 2, 2}[i] {
			t.Fatalf("machine %d: %+v", i, m)
		}
		j, err := e.v.GetJob(e.ctx, m.JobID)
		if err != nil || j.Kind != "failover" || j.Target != wantName || j.State != vault.JobSucceeded {
			t.Fatalf("machine job %+v %v", j, err)
		}
	}
	kinds := []string{}
	for _, st := range r.Steps {
		kinds = append(kinds, fmt.Sprintf("%d:%s:%s", st.Group, st.Kind, st.State))
	}
	if strings.Join(kinds, " ") != "1:before:succeeded 1:machine:succeeded 1:after:succeeded 2:before:succeeded 2:machine:succeeded 2:machine:succeeded 2:after:succeeded" {
		t.Fatalf("steps %s", kinds)
	}
	j, err := e.v.GetJob(e.ctx, r.JobID)
	if err != nil || j.Kind != "plan-failover" || j.Target != "shop" || j.State != vault.JobSucceeded || j.Progress != 100 {
		t.Fatalf("plan job %+v %v", j, err)
	}
	var res recoveryplan.RunResult
	if err := json.Unmarshal([]byte(j.Result), &res); err != nil || res.Run != r.ID || len(res.Machines) != 3 || res.Machines[2].Machine != "web02" {
		t.Fatalf("job result %s: %v", j.Result, err)
	}
	// The cleanup of a test failover goes the other way, without scripts.
	os.Remove(e.log)
	r = e.run("shop", recoveryplan.OpTestFailover, recoveryplan.RunRequest{Network: "isolated"})
	if r.State != recoveryplan.StateSucceeded {
		t.Fatalf("test run %+v", r)
	}
	if l := e.logLines(); len(l) != 4 || l[0] != "shop before 1 (db) test-failover [db01] sees:db01 web01 web02 " {
		t.Fatalf("test log %q", l)
	}
	os.Remove(e.log)
	r = e.run("shop", recoveryplan.OpCleanup, recoveryplan.RunRequest{})
	if r.State != recoveryplan.StateSucceeded {
		t.Fatalf("cleanup run %+v", r)
	}
	calls = e.f.Calls()[6:]
	if len(calls) != 3 || calls[2].Machine != "db01" || calls[2].Op != "cleanup" {
		t.Fatalf("cleanup calls %+v", calls)
	}
	if _, err := os.Stat(e.log); !os.IsNotExist(err) {
		t.Fatal("cleanup ran scripts")
	}
	if ents, _ := os.ReadDir(e.f.Dir); len(ents) != 0 {
		t.Fatalf("cleanup left %v", ents)
	}
}

// TestFailingScriptStopsPlan: an after script that fails stops the run with its exit status and
// last line; the next group does not run.
func TestFailingScriptStopsPlan(t *testing.T) {
	e := newEnv(t, "db01", "web01", "web02")
	e.twoGroups("shop", "echo checking; echo database not ready >&2; exit 3")
	r := e.run("shop", recoveryplan.OpTestFailover, recoveryplan.RunRequest{})
	want := "group 1 (db): after script " + filepath.Join(e.dir, "a1.sh") + " failed: exit status 3: database not ready"
	if r.State != recoveryplan.StateFailed || r.Error != want || r.Step != "stopped" {
		t.Fatalf("run state %s error %q, want %q", r.State, r.Error, want)
	}
	if l := e.logLines(); len(l) != 2 {
		t.Fatalf("log %q", l)
	}
	if c := e.f.Calls(); len(c) != 1 || c[0].Machine != "db01" {
		t.Fatalf("calls %+v", c)
	}
	got := []string{}
	for _, st := range r.Steps {
		got = append(got, st.State)
	}
	if strings.Join(got, " ") != "succeeded succeeded failed skipped skipped skipped skipped" {
		t.Fatalf("steps %v", got)
	}
	if r.Steps[2].Output != "checking\ndatabase not ready\n" || r.Steps[2].Error != want {
		t.Fatalf("script step %+v", r.Steps[2])
	}
	j, _ := e.v.GetJob(e.ctx, r.JobID)
	if j.State != vault.JobFailed || j.Error != want {
		t.Fatalf("job %+v", j)
	}
}

// TestFailingMachineStopsPlan: a machine that fails fails its group, after the others of the
// group ended; the error names it.
func TestFailingMachineStopsPlan(t *testing.T) {
	e := newEnv(t, "db01", "web01", "web02", "web03")
	e.f.Fail = map[string]string{"web02": "disk sda: no space left on the target"}
	_, err := e.svc.Create(e.ctx, plantest.VaultName, recoveryplan.CreateRequest{Name: "p", Groups: []recoveryplan.Group{
		{Machines: []string{"web01", "web02", "web03"}}, {Machines: []string{"db01"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := e.run("p", recoveryplan.OpFailover, recoveryplan.RunRequest{})
	want := "group 1 (group 1): 1 of 3 machines failed: web02: disk sda: no space left on the target"
	if r.State != recoveryplan.StateFailed || r.Error != want {
		t.Fatalf("run %s %q, want %q", r.State, r.Error, want)
	}
	ms := r.Machines()
	states := fmt.Sprint(ms[0].State, ms[1].State, ms[2].State, ms[3].State)
	if states != "succeededfailedsucceededskipped" || ms[1].Error != "disk sda: no space left on the target" {
		t.Fatalf("machines %+v", ms)
	}
}

// TestPauseAndResume: a manual step holds the run until it is resumed.
func TestPauseAndResume(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) { testPauseAndResume(t, dsn) })
}

func testPauseAndResume(t *testing.T, dsn string) {
	e := newEnvDB(t, dsn, "db01", "web01")
	_, err := e.svc.Create(e.ctx, plantest.VaultName, recoveryplan.CreateRequest{Name: "p", Groups: []recoveryplan.Group{
		{Name: "db", Machines: []string{"db01"}, PauseAfter: "check the database answers"}, {Name: "web", Machines: []string{"web01"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Resume(e.ctx, plantest.VaultName, "p"); err == nil || err.Error() != "recovery plan p has no paused run" || vault.StatusOf(err) != 409 {
		t.Fatalf("resume before: %v", err)
	}
	r, err := e.svc.Start(e.ctx, plantest.VaultName, "p", recoveryplan.OpFailover, recoveryplan.RunRequest{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.State != recoveryplan.StatePaused && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		r, _ = e.svc.GetRun(e.ctx, plantest.VaultName, r.ID)
	}
	if r.State != recoveryplan.StatePaused || r.Step != "paused after group 1 (db): check the database answers" {
		t.Fatalf("run %s %q", r.State, r.Step)
	}
	// Paused: the second group waits, and a second run is refused.
	time.Sleep(100 * time.Millisecond)
	if c := e.f.Calls(); len(c) != 1 {
		t.Fatalf("calls while paused %+v", c)
	}
	if _, err := e.svc.Start(e.ctx, plantest.VaultName, "p", recoveryplan.OpFailover, recoveryplan.RunRequest{}); err == nil || err.Error() != "recovery plan p has a run going on ("+r.ID+")" {
		t.Fatalf("second start: %v", err)
	}
	if err := e.svc.Delete(e.ctx, plantest.VaultName, "p"); err == nil || err.Error() != "recovery plan p has a run going on" {
		t.Fatalf("delete while paused: %v", err)
	}
	if _, err := e.svc.Resume(e.ctx, plantest.VaultName, "p"); err != nil {
		t.Fatal(err)
	}
	r, err = e.svc.WaitRun(e.ctx, plantest.VaultName, r.ID)
	if err != nil || r.State != recoveryplan.StateSucceeded || len(e.f.Calls()) != 2 {
		t.Fatalf("after resume: %+v %v", r, err)
	}
	if err := e.svc.Delete(e.ctx, plantest.VaultName, "p"); err != nil {
		t.Fatal(err)
	}
}

// TestCreateValidation: bad plans give exact errors and store nothing.
func TestCreateValidation(t *testing.T) {
	engines(t, func(t *testing.T, dsn string) { testCreateValidation(t, dsn) })
}

func testCreateValidation(t *testing.T, dsn string) {
	e := newEnvDB(t, dsn, "db01", "web01", "web02")
	noexec := filepath.Join(e.dir, "noexec.sh")
	os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644)
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("m%03d", i)
	}
	g := func(ms ...string) recoveryplan.Group { return recoveryplan.Group{Machines: ms} }
	for _, tc := range []struct {
		name   string
		req    recoveryplan.CreateRequest
		status int
		want   string
	}{
		{"unknown machine", recoveryplan.CreateRequest{Name: "p", Groups: []recoveryplan.Group{g("db01"), g("web01", "web09")}}, 400, "group 2: machine web09 is not protected in vault lab"},
		{"machine in two groups", recoveryplan.CreateRequest{Name: "p", Groups: []recoveryplan.Group{g("db01", "web01"), g("web02", "web01")}}, 400, "machine web01 is in group 1 and group 2"},
		{"machine twice in a group", recoveryplan.CreateRequest{Name: "p", Groups: []recoveryplan.Group{g("db01", "db01")}}, 400, "machine db01 is twice in group 1"},
		{"empty group", recoveryplan.CreateRequest{Name: "p", Groups: []recoveryplan.Group{g("db01"), {Name: "web"}}}, 400, "group 2 (web) has no machines"},
		{"no groups", recoveryplan.CreateRequest{Name: "p"}, 400, "a recovery plan needs at least one group"},
		{"too many machines", recoveryplan.CreateRequest{Name: "p", Groups: []recoveryplan.Group{g(many[:50]...), g(many[50:]...)}}, 400, "a recovery plan holds at most 100 machines, this one has 101"},
		{"bad name", recoveryplan.CreateRequest{Name: "Shop", Groups: []recoveryplan.Group{g("db01")}}, 400, `recovery plan name "Shop" must be 1-63 characters of a-z, 0-9, '.' and '-', starting with a letter or digit`},
		{"relative script", recoveryplan.CreateRequest{Name: "p", Groups: []recoveryplan.Group{{Machines: []string{"db01"}, Before: "stop.sh"}}}, 400, `group 1: before script "stop.sh" must be an absolute path on the vault host`},
		{"missing script", recoveryplan.CreateRequest{Name: "p", Groups: []recoveryplan.Group{{Machines: []string{"db01"}, After: "/nonexistent/start.sh"}}}, 400, "group 1: after script /nonexistent/start.sh does not exist on the vault host"},
		{"script not executable", recoveryplan.CreateRequest{Name: "p", Groups: []recoveryplan.Group{{Machines: []string{"db01"}, After: noexec}}}, 400, "group 1: after script " + noexec + " is not an executable file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Create(e.ctx, plantest.VaultName, tc.req)
			if err == nil || err.Error() != tc.want || vault.StatusOf(err) != tc.status {
				t.Fatalf("err = %v (%d)\nwant  %s", err, vault.StatusOf(err), tc.want)
			}
			if ps, err := e.svc.List(e.ctx, plantest.VaultName); err != nil || len(ps) != 0 {
				t.Fatalf("stored %v %v", ps, err)
			}
		})
	}
	e.twoGroups("shop", "")
	if _, err := e.svc.Create(e.ctx, plantest.VaultName, recoveryplan.CreateRequest{Name: "shop", Groups: []recoveryplan.Group{g("db01")}}); err == nil || err.Error() != "recovery plan shop already exists in vault lab" || vault.StatusOf(err) != 409 {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := e.svc.Start(e.ctx, plantest.VaultName, "shop", recoveryplan.OpTestFailover, recoveryplan.RunRequest{ShutdownSource: true}); err == nil || err.Error() != "shutdown_source is for failover only" {
		t.Fatalf("start: %v", err)
	}
	if _, err := e.svc.Start(e.ctx, plantest.VaultName, "shop", recoveryplan.OpTestFailover, recoveryplan.RunRequest{VerifyBoot: true}); err == nil || err.Error() != "verify_boot: this vault service has no boot check configured" {
		t.Fatalf("start: %v", err)
	}
	if _, err := e.svc.Get(e.ctx, plantest.VaultName, "nope"); err == nil || err.Error() != "recovery plan nope does not exist in vault lab" || vault.StatusOf(err) != 404 {
		t.Fatalf("get: %v", err)
	}
}

// TestParallelBound: a plan of 100 machines runs each group's machines in parallel, never more
// than Config.Parallel at once.
func TestParallelBound(t *testing.T) {
	var ms []string
	for i := range 100 {
		ms = append(ms, fmt.Sprintf("m%03d", i))
	}
	e := newEnv(t, ms...)
	e.f.Delay = 20 * time.Millisecond
	if _, err := e.svc.Create(e.ctx, plantest.VaultName, recoveryplan.CreateRequest{Name: "big", Groups: []recoveryplan.Group{{Machines: ms[:60]}, {Machines: ms[60:]}}}); err != nil {
		t.Fatal(err)
	}
	r := e.run("big", recoveryplan.OpTestFailover, recoveryplan.RunRequest{})
	if r.State != recoveryplan.StateSucceeded || len(r.Machines()) != 100 || len(e.f.Calls()) != 100 {
		t.Fatalf("run %s %q, %d calls", r.State, r.Error, len(e.f.Calls()))
	}
	if most := e.f.MostAtOnce(); most < 2 || most > 4 {
		t.Fatalf("%d machines at once, want 2 to 4 (Parallel 4)", most)
	}
}

// TestStaleRunFailed: a run left paused by a vault process of this host that is gone is failed,
// with its job, when the next service starts.
func TestStaleRunFailed(t *testing.T) {
	e := newEnv(t, "db01", "web01")
	gone, err := recoveryplan.New(recoveryplan.Config{Vault: e.v, Failover: e.f, PID: deadPID(t), PollInterval: 20 * time.Millisecond}, recoveryplan.Deps{Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Create(e.ctx, plantest.VaultName, recoveryplan.CreateRequest{Name: "p", Groups: []recoveryplan.Group{{Machines: []string{"db01"}, PauseAfter: "wait"}, {Machines: []string{"web01"}}}}); err != nil {
		t.Fatal(err)
	}
	r, err := gone.Start(e.ctx, plantest.VaultName, "p", recoveryplan.OpFailover, recoveryplan.RunRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Paused means the run's state and its pause step's: the two are written one after the other.
	paused := func() bool {
		return r.State == recoveryplan.StatePaused && len(r.Steps) > 1 && r.Steps[1].State == recoveryplan.StateRunning
	}
	for deadline := time.Now().Add(10 * time.Second); !paused() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		r, _ = e.svc.GetRun(e.ctx, plantest.VaultName, r.ID)
	}
	if !paused() {
		t.Fatalf("the run did not pause: %s %+v", r.State, r.Steps)
	}
	again, err := recoveryplan.New(recoveryplan.Config{Vault: e.v, Failover: e.f}, recoveryplan.Deps{Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	r, _ = again.GetRun(e.ctx, plantest.VaultName, r.ID)
	if r.State != recoveryplan.StateFailed || r.Error != "the vault service stopped during the run" {
		t.Fatalf("run %s %q", r.State, r.Error)
	}
	j, _ := e.v.GetJob(e.ctx, r.JobID)
	if j.State != vault.JobFailed || j.Error != "the vault service stopped during the run" {
		t.Fatalf("job %+v", j)
	}
	if r.Steps[1].State != recoveryplan.StateFailed || r.Steps[2].State != recoveryplan.StateSkipped {
		t.Fatalf("steps %+v", r.Steps)
	}
	gone.Close()
}

// deadPID returns the ID of a process that has ended.
func deadPID(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}
