package freeze

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestMain lets the test binary play the guardian: the Guard under test starts it again with
// OSR_FREEZE_GUARDIAN=1, as the agent starts `osr mobility freeze-guard`.
func TestMain(m *testing.M) {
	if os.Getenv("OSR_FREEZE_GUARDIAN") == "1" {
		RunGuardian(os.Stdin, nil)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func guardianCmd() *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "OSR_FREEZE_GUARDIAN=1")
	return cmd
}

// TestGuardianThawsWhenParentDies: the parent's end of the pipe closes while frozen (as when the
// agent is killed with -9) and the guardian thaws at once; the journal is left for Recover, which
// then finds nothing frozen and removes it.
func TestGuardianThawsWhenParentDies(t *testing.T) {
	_, dev, mnt := ext4Loop(t)
	ms, err := Find(map[string]string{"sdb": dev})
	if err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(t.TempDir(), "freeze.journal")
	g := NewGuard(journal, guardianCmd, nil)
	if err := g.Before(ms); err != nil {
		t.Fatal(err)
	}
	fz, err := Freeze(ms, 0, nil, nil) // no watchdog: only the guardian can thaw
	if err != nil {
		t.Fatal(err)
	}
	defer fz.Thaw() // closes the mount's files (a dead process's are closed by the kernel)
	done := writeDone(t, mnt)
	if !blocked(done, 300*time.Millisecond) {
		t.Fatal("a write completed while frozen")
	}
	// The parent "dies": its end of the pipe closes without the thaw message.
	g.mu.Lock()
	g.w.Close()
	err = g.cmd.Wait()
	g.mu.Unlock()
	if err != nil {
		t.Fatalf("guardian: %v", err)
	}
	if blocked(done, 5*time.Second) {
		t.Fatal("the guardian did not thaw the filesystem")
	}
	thawed, err := Recover(journal, nil)
	if err != nil || len(thawed) != 1 || thawed[0] != mnt {
		t.Fatalf("Recover = %v, %v; want [%s]", thawed, err, mnt)
	}
	if _, err := os.Stat(journal); !os.IsNotExist(err) {
		t.Fatalf("journal still there: %v", err)
	}
}

// TestRecoverThawsLeftFreeze: a process died frozen with no guardian; the next start's Recover
// thaws from the journal. A normal Before/After pair leaves no journal and the guardian exits on
// Close without thawing anything.
func TestRecoverThawsLeftFreeze(t *testing.T) {
	_, dev, mnt := ext4Loop(t)
	ms, err := Find(map[string]string{"sdb": dev})
	if err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(t.TempDir(), "freeze.journal")

	g := NewGuard(journal, guardianCmd, nil)
	if err := g.Before(ms); err != nil {
		t.Fatal(err)
	}
	fz, err := Freeze(ms, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fz.Thaw(); err != nil {
		t.Fatal(err)
	}
	if err := g.After(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(journal); !os.IsNotExist(err) {
		t.Fatalf("journal after a clean thaw: %v", err)
	}
	g.Close()

	noGuardian := NewGuard(journal, nil, nil)
	if err := noGuardian.Before(ms); err != nil {
		t.Fatal(err)
	}
	left, err := Freeze(ms, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer left.Thaw()
	done := writeDone(t, mnt)
	if !blocked(done, 300*time.Millisecond) {
		t.Fatal("a write completed while frozen")
	}
	thawed, err := Recover(journal, nil)
	if err != nil || len(thawed) != 1 || thawed[0] != mnt {
		t.Fatalf("Recover = %v, %v; want [%s]", thawed, err, mnt)
	}
	if blocked(done, 5*time.Second) {
		t.Fatal("Recover did not thaw the filesystem")
	}
	if got, err := Recover(journal, nil); err != nil || got != nil {
		t.Fatalf("second Recover = %v, %v; want nothing", got, err)
	}
	if err := os.WriteFile(journal, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Recover(journal, nil); err == nil {
		t.Fatal("a damaged journal was accepted")
	}
}
