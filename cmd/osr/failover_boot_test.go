package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/failover"
)

// TestFailoverVerifyBootCLI: --verify-boot reaches the vault's boot check (wired from the plans'
// bootChecker, OSR_BOOTCHECK_TIMEOUT read by the vault service): a target that is not local is
// refused at once; web01's disk (data, no boot sector) fails the test failover with the boot
// check's error, and the status shows the failed check with the console's last lines.
func TestFailoverVerifyBootCLI(t *testing.T) {
	t.Setenv("OSR_BOOTCHECK_TIMEOUT", "3s")
	c := newFoCLI(t, "")
	out := filepath.Join(c.dir, "out")
	c.ok("target", "add", "--name", "local1", "--provider", "local", "--dir", out)
	c.ok("target", "add", "--name", "az", "--provider", "azure", "--container-url", "http://127.0.0.1:10000/devstoreaccount1/failover",
		"--account", "devstoreaccount1", "--key-secret", "c2VjcmV0LWtleS1vZi10aGUtYWNjb3VudA==")
	c.ok("network-mapping", "add", "--source-network", "prod-net", "--target-network", "dr-net", "--test-network", "test-net")
	c.fails("verify_boot: target az is of provider azure; the boot check boots machines of local targets only (their disks are files on the vault's host)",
		"failover", "test", "web01", "--target", "az", "--verify-boot")
	c.fails("verify_boot: target az is of provider azure; the boot check boots machines of local targets only (their disks are files on the vault's host)",
		"failover", "run", "web01", "--target", "az", "--verify-boot")

	start := time.Now()
	_, _, err := c.run("failover", "test", "web01", "--target", "local1", "--verify-boot")
	if err == nil {
		t.Fatal("the test failover of a disk that does not boot succeeded")
	}
	var st failover.Status
	if err := json.Unmarshal([]byte(c.ok("failover", "status", "web01", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	rec := st.Test
	if rec == nil || rec.BootCheck == nil || rec.BootCheck.Passed || !rec.VerifyBoot || rec.State != failover.RecordFailed {
		t.Fatalf("status %+v test %+v", st, rec)
	}
	want := `boot check of web01-test: "login:" did not appear on the serial console within 3s; last console lines:` + "\n  " + strings.Join(rec.BootCheck.Console, "\n  ")
	if wantErr := "test failover of web01 failed (job " + rec.JobID + "): " + want; err.Error() != wantErr {
		t.Fatalf("error\n%s\nwant\n%s", err, wantErr)
	}
	if !strings.Contains(want, "Boot failed: not a bootable disk") || time.Since(start) < 3*time.Second {
		t.Fatalf("console %q after %s", rec.BootCheck.Console, time.Since(start))
	}
	table := c.ok("failover", "status", "web01")
	if !strings.Contains(table, "BOOT CHECK") || !strings.Contains(table, "failed 3.") || !strings.Contains(table, `boot check of web01-test: "login:" did not appear on the serial console within 3s; last console lines: ...`) {
		t.Fatalf("status table:\n%s", table)
	}
	c.ok("failover", "cleanup", "web01")
}
