package failover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/bootcheck"
	"github.com/opensiterecovery/osr/internal/bootcheck/bootdisk"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

// The bootable test disk (internal/bootcheck/bootdisk) is built once per test binary.
var (
	bootDiskOnce sync.Once
	bootDiskDir  string
	bootDiskImg  []byte
	bootDiskErr  error
)

func removeBootDisk() {
	if bootDiskDir != "" {
		os.RemoveAll(bootDiskDir)
	}
}

// bootImage returns the test boot disk's bytes (a 32 MiB raw image).
func bootImage(t testing.TB) []byte {
	t.Helper()
	bootDiskOnce.Do(func() {
		if bootDiskErr = bootdisk.Check(); bootDiskErr != nil {
			return
		}
		if bootDiskDir, bootDiskErr = os.MkdirTemp("", "osr-failover-bootdisk-"); bootDiskErr != nil {
			return
		}
		path := filepath.Join(bootDiskDir, "boot.raw")
		if bootDiskErr = bootdisk.Build(context.Background(), path, bootdisk.Options{}); bootDiskErr != nil {
			return
		}
		bootDiskImg, bootDiskErr = os.ReadFile(path)
	})
	if bootDiskErr != nil {
		t.Fatalf("boot disk (as root, with %s): %v", bootdisk.InstallCommand, bootDiskErr)
	}
	return bootDiskImg
}

// withBootCheck gives the env's failover service a real boot checker waiting for the test disk's
// marker within timeout.
func withBootCheck(t testing.TB, timeout time.Duration) envOption {
	c, err := bootcheck.New(bootcheck.Config{Markers: []string{bootdisk.DefaultMarker}, Timeout: timeout, MaxMemoryMB: 256}, bootcheck.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return func(cfg *Config, _ *Deps) { cfg.BootCheck = c }
}

// addBootMachine adds boot01 to the inventory (one disk, sda, on prod-net), protects it and
// commits the test boot disk as its point; a second point has the disk's boot sector zeroed
// (SeaBIOS: "Boot failed: not a bootable disk"). It returns the two points' IDs.
func (e *env) addBootMachine() (good, broken string) {
	t, ctx := e.t, context.Background()
	img := bootImage(t)
	ms := append(testMachines(), vault.Machine{Name: "boot01", Hostname: "boot01.lab", OS: "linux", Source: "agent",
		Disks:    []vault.MachineDisk{{Name: "sda", SizeBytes: int64(len(img))}},
		Hardware: &vault.Hardware{CPUs: 1, MemoryMB: 256, NICs: []vault.NIC{{Name: "eth0", Network: "prod-net", Addresses: []string{"10.0.0.30/24"}}}}})
	if err := e.vs.ConfigServerInventory(e.csCtx, vault.Inventory{Machines: ms}); err != nil {
		t.Fatal(err)
	}
	e.mustDo("POST", "/vaults/lab/protected-items", e.tokens[vault.RoleOwner], vault.EnableRequest{Machine: "boot01", Policy: "gold"}, 201)
	now := e.clk.Now()
	var parent *store.Point
	var ids []string
	for i, content := range [][]byte{img, append(make([]byte, 512), img[512:]...)} {
		w, err := e.repo.NewWriter(ctx, "boot01", parent, []store.DiskSpec{{Name: "sda", Size: int64(len(content))}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Disk("sda").WriteAt(content, 0); err != nil {
			t.Fatal(err)
		}
		p, err := w.Commit(ctx, store.CommitMeta{Time: now.Add(time.Duration(i-2) * time.Minute), Consistency: store.CrashConsistent})
		if err != nil {
			t.Fatal(err)
		}
		e.images[p.ID] = map[string][]byte{"sda": content}
		parent, ids = p, append(ids, p.ID)
	}
	lpt := now.Add(-time.Minute)
	if _, err := e.vs.ConfigServerHeartbeat(e.csCtx, vault.Heartbeat{Time: now, Items: []vault.ItemReport{
		{Machine: "boot01", State: vault.StateProtected, InitialPercent: 100, LastPointTime: &lpt, LastPointID: ids[1]},
	}}); err != nil {
		t.Fatal(err)
	}
	return ids[0], ids[1]
}

// waitBoot waits for a job that boots a machine under TCG (seconds to a minute on a loaded host).
func (e *env) waitBoot(id string) vault.Job {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var j vault.Job
		e.decode(e.mustDo("GET", "/jobs/"+id, e.tokens[vault.RoleReader], nil, 200), &j)
		if j.State != vault.JobRunning {
			return j
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s still running: %+v", id, j)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestVerifyBootTestFailover: a test failover with verify_boot boots the machine from its new
// disks; the job's result and the record say it passed and how long the boot took; the disks
// are the point's, unchanged by the boot; cleanup removes them. A failover with verify_boot
// then boots too, and the item is failed over.
func TestVerifyBootTestFailover(t *testing.T) {
	e := newEnv(t, db.SQLite, withBootCheck(t, 4*time.Minute))
	good, _ := e.addBootMachine()
	op := e.startOp("boot01/failover/test", TestRequest{Point: good, VerifyBoot: true})
	if !op.Failover.VerifyBoot || op.Failover.BootCheck != nil {
		t.Fatalf("record at start %+v", op.Failover)
	}
	j := e.waitBoot(op.Job.ID)
	if j.State != vault.JobSucceeded {
		t.Fatalf("job %+v", j)
	}
	rec := e.status("boot01").Test
	bc := rec.BootCheck
	if rec.State != RecordSucceeded || !rec.VerifyBoot || bc == nil || !bc.Passed || bc.Marker != bootdisk.DefaultMarker || bc.Duration <= 0 || bc.Console != nil || bc.Error != "" {
		t.Fatalf("record %+v boot check %+v", rec, bc)
	}
	want := fmt.Sprintf("test failover of boot01 at point %s (%s) on target local1: 1 disks, %d bytes written, %d bytes skipped as zeros; boot check passed in %.1fs (OSR-BOOT-OK on the serial console)",
		short(good), rec.PointTime.Format(time.RFC3339), rec.Result.BytesWritten, rec.Result.BytesSkipped, bc.Duration.Seconds())
	if j.Result != want {
		t.Fatalf("job result\n%s\nwant\n%s", j.Result, want)
	}
	t.Logf("boot check wall time (test failover of boot01, raw): %s", bc.Duration.Round(time.Millisecond))
	got, err := os.ReadFile(rec.Result.Disks[0])
	if err != nil || !bytes.Equal(got, e.images[good]["sda"]) {
		t.Fatalf("failed-over disk differs from the point (or %v)", err)
	}
	if !strings.Contains(e.events("boot01"), "boot check of boot01-test started ("+rec.Result.DefinitionFile+")") {
		t.Fatalf("no boot-check event: %s", e.events("boot01"))
	}
	c := e.startOp("boot01/failover/test/cleanup", nil)
	if cj := e.waitJob(c.Job.ID); cj.State != vault.JobSucceeded {
		t.Fatalf("cleanup %+v", cj)
	}
	if left, _ := os.ReadDir(e.out); len(left) != 0 {
		t.Fatalf("target directory holds %v after cleanup", left)
	}
	// A failover with verify_boot: the item is failed over once the machine booted.
	op = e.startOp("boot01/failover/run", FailoverRequest{Point: good, VerifyBoot: true})
	if j := e.waitBoot(op.Job.ID); j.State != vault.JobSucceeded || !strings.HasSuffix(j.Result, " (OSR-BOOT-OK on the serial console)") {
		t.Fatalf("failover job %+v", j)
	}
	st := e.status("boot01")
	if rec := st.Failover; st.ItemState != vault.StateFailedOver || rec.State != RecordSucceeded || rec.BootCheck == nil || !rec.BootCheck.Passed {
		t.Fatalf("status %+v failover %+v", st, st.Failover)
	}
	t.Logf("boot check wall time (failover of boot01, raw): %s", st.Failover.BootCheck.Duration.Round(time.Millisecond))
}

// TestVerifyBootFails: a disk that does not boot fails the test failover's job and the
// failover's with the boot check's exact error and the console's last lines; the disks stay for
// inspection, cleanup removes them, and the failed failover leaves the machine replicating.
func TestVerifyBootFails(t *testing.T) {
	e := newEnv(t, db.SQLite, withBootCheck(t, 5*time.Second))
	_, broken := e.addBootMachine()
	for _, tc := range []struct {
		path, name string
		body       any
	}{
		{"boot01/failover/test", "boot01-test", TestRequest{Point: broken, VerifyBoot: true}},
		{"boot01/failover/run", "boot01", FailoverRequest{Point: broken, VerifyBoot: true}},
	} {
		op := e.startOp(tc.path, tc.body)
		j := e.waitBoot(op.Job.ID)
		st := e.status("boot01")
		rec := st.Test
		if tc.name == "boot01" {
			rec = st.Failover
		}
		bc := rec.BootCheck
		if j.State != vault.JobFailed || rec.State != RecordFailed || bc == nil || bc.Passed || bc.Duration < 5*time.Second {
			t.Fatalf("%s: job %+v record %+v boot check %+v", tc.path, j, rec, bc)
		}
		want := `boot check of ` + tc.name + `: "OSR-BOOT-OK" did not appear on the serial console within 5s; last console lines:` + "\n  " + strings.Join(bc.Console, "\n  ")
		if j.Error != want || rec.Error != want || bc.Error != want {
			t.Fatalf("%s: job error\n%s\nrecord error\n%s\nwant\n%s", tc.path, j.Error, rec.Error, want)
		}
		if !strings.Contains(strings.Join(bc.Console, "\n"), "Boot failed: not a bootable disk") {
			t.Fatalf("%s: console tail %q lacks the BIOS's message", tc.path, bc.Console)
		}
		got, err := os.ReadFile(rec.Result.Disks[0])
		if err != nil || !bytes.Equal(got, e.images[broken]["sda"]) {
			t.Fatalf("%s: the disks of the failed boot check are not kept as the point has them (%v)", tc.path, err)
		}
		if st.ItemState != vault.StateProtected || st.Running != nil {
			t.Fatalf("%s: status %+v", tc.path, st)
		}
	}
	c := e.startOp("boot01/failover/test/cleanup", nil)
	if cj := e.waitJob(c.Job.ID); cj.State != vault.JobSucceeded {
		t.Fatalf("cleanup %+v", cj)
	}
	if st := e.status("boot01"); st.Test != nil {
		t.Fatalf("test record after cleanup %+v", st.Test)
	}
}

// TestVerifyBootRefused: verify_boot that cannot be honoured is refused at request time with
// an exact error, and nothing changes.
func TestVerifyBootRefused(t *testing.T) {
	noQEMU := func(cfg *Config, deps *Deps) {
		deps.LookPath = func(name string) (string, error) {
			if name != DefaultQEMU {
				t.Errorf("looked up %q", name)
			}
			return "", errors.New("not found")
		}
	}
	for _, tc := range []struct {
		name   string
		opts   []envOption
		target string
		status int
		want   string
	}{
		{"another provider", []envOption{withBootCheck(t, time.Minute)}, "g1", 400,
			"verify_boot: target g1 is of provider gated; the boot check boots machines of local targets only (their disks are files on the vault's host)"},
		{"no boot check", nil, "local1", 501, "verify_boot: this vault service has no boot check configured"},
		{"no qemu", []envOption{withBootCheck(t, time.Minute), noQEMU}, "local1", 501,
			"verify_boot: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, db.SQLite, tc.opts...)
			e.mustDo("POST", "/vaults/lab/targets", e.tokens[vault.RoleOwner], AddTargetRequest{Name: "g1", Provider: "gated", Settings: map[string]string{"dir": e.out}}, 201)
			before := e.snapshot()
			e.expectError("POST", "/vaults/lab/protected-items/web01/failover/test", e.op(), TestRequest{Target: tc.target, VerifyBoot: true}, tc.status, tc.want)
			e.expectError("POST", "/vaults/lab/protected-items/web01/failover/run", e.op(), FailoverRequest{Target: tc.target, VerifyBoot: true}, tc.status, tc.want)
			if after := e.snapshot(); after != before {
				t.Fatalf("a refused request changed the database:\n%s\nthen\n%s", before, after)
			}
			if left, _ := os.ReadDir(e.out); len(left) != 0 {
				t.Fatalf("target directory holds %v", left)
			}
		})
	}
}

// events returns the messages of a machine's events, one a line.
func (e *env) events(machine string) string {
	e.t.Helper()
	rows, err := e.vs.DB().Query(context.Background(), `SELECT message FROM events WHERE subject = ? ORDER BY 1`, machine)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var sb strings.Builder
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			e.t.Fatal(err)
		}
		sb.WriteString(m + "\n")
	}
	return sb.String()
}
