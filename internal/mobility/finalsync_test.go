//go:build linux

package mobility

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// ext4DeviceSize is ext4Device with another size (sparse).
func ext4DeviceSize(t testing.TB, dir string, size int64) (dev, mnt string) {
	t.Helper()
	img := filepath.Join(dir, "fs.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v\n%s", err, out)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	mnt = filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", dev, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("fsfreeze", "--unfreeze", mnt).Run()
		exec.Command("umount", mnt).Run()
	})
	return dev, mnt
}

// fileWorkload writes numbered files with fsync on a mounted filesystem and counts each one
// acknowledged (written, fsynced and closed) before it starts the next.
type fileWorkload struct {
	dir   string
	acked atomic.Int64
	stop  chan struct{}
	done  chan error
}

func fileContent(n int64) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("file %06d of the workload\n", n)), 1+int(n%97)*13)
}

func startWorkload(t testing.TB, dir string) *fileWorkload {
	w := &fileWorkload{dir: dir, stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		for n := int64(0); ; n++ {
			select {
			case <-w.stop:
				w.done <- nil
				return
			default:
			}
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("f%06d", n)))
			if err == nil {
				_, err = f.Write(fileContent(n))
			}
			if err == nil {
				err = f.Sync()
			}
			if f != nil {
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				w.done <- err
				return
			}
			w.acked.Store(n + 1)
		}
	}()
	return w
}

func (w *fileWorkload) finish(t testing.TB) {
	close(w.stop)
	if err := <-w.done; err != nil {
		t.Fatalf("workload: %v", err)
	}
}

// checkAcked mounts img read-only and compares the first n workload files byte for byte, after a
// forced fsck.
func checkAcked(t *testing.T, img string, n int64) {
	t.Helper()
	if out, err := exec.Command("e2fsck", "-n", "-f", img).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck -n -f of the final point: %v\n%s", err, out)
	}
	mnt := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", "-o", "ro,loop", img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount the final point read-only: %v\n%s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	for i := range n {
		got, err := os.ReadFile(filepath.Join(mnt, fmt.Sprintf("f%06d", i)))
		if err != nil || !bytes.Equal(got, fileContent(i)) {
			t.Fatalf("file %d acknowledged before the final sync: %d bytes (want %d), %v", i, len(got), len(fileContent(i)), err)
		}
	}
}

// A final sync during a live workload: the point holds every file acknowledged before the call,
// the freeze stayed within its bound and left no journal, and replication goes on after it.
func TestFinalSyncDuringWorkload(t *testing.T) {
	dir := t.TempDir()
	dev, mnt := ext4Device(t, dir)
	ps := startPS(t, dir)
	cfg := ps.config(t, Disk{Name: "sdb", Path: dev})
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.FreezeTimeout = 5 * time.Second
	r := startAgent(t, cfg, Options{})
	waitFor(t, "initial replication", 30*time.Second, func() bool { return r.a.initialDone() })

	w := startWorkload(t, mnt)
	waitFor(t, "the workload", 10*time.Second, func() bool { return w.acked.Load() > 50 })
	acked := w.acked.Load() // every file acknowledged before the call
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := r.a.FinalSync(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	w.finish(t)
	if res.PointID == "" || res.Stopped {
		t.Fatalf("final sync result %+v", res)
	}
	pt := ps.points(t)[res.Seq]
	if pt == nil || pt.ID != res.PointID || !pt.Time.Equal(res.CaptureTime) || pt.Consistency != "crash" {
		t.Fatalf("store point of seq %d: %+v, result %+v", res.Seq, pt, res)
	}
	fz := r.last("freeze")
	d, perr := time.ParseDuration(fz.Attrs["duration"])
	if fz == nil || perr != nil || d > cfg.FreezeTimeout || fz.Attrs["mounts"] != mnt {
		t.Fatalf("freeze event %+v", fz)
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, freezeJournal)); !os.IsNotExist(err) {
		t.Fatalf("freeze journal left after the thaw: %v", err)
	}
	img := filepath.Join(dir, "final.img")
	if err := os.WriteFile(img, ps.export(t, res.Seq, "sdb"), 0o600); err != nil {
		t.Fatal(err)
	}
	checkAcked(t, img, acked)
	t.Logf("%d files acknowledged before the final sync, all in point %s (freeze %s)", acked, res.PointID, d)

	// Replication goes on.
	r.a.Trigger()
	waitFor(t, "a point after the final sync", 20*time.Second, func() bool { return r.a.Status().CommittedSeq > res.Seq })
}

// With shutdown the hook runs first (its marker file), the point is committed, and the agent
// stops replicating, also after a restart; a second final sync is refused.
func TestFinalSyncShutdown(t *testing.T) {
	dir := t.TempDir()
	dev, mnt := ext4Device(t, dir)
	ps := startPS(t, dir)
	cfg := ps.config(t, Disk{Name: "sdb", Path: dev})
	cfg.StateDir = filepath.Join(dir, "state")
	marker := filepath.Join(dir, "hook.marker")
	hook := filepath.Join(dir, "shutdown.sh")
	// The hook stops the workload: here it writes a last file and syncs it, as a service stop would.
	os.WriteFile(hook, []byte("#!/bin/sh\necho \"$1 $2 $3\" > "+marker+"\necho stopped > "+filepath.Join(mnt, "last")+"\nsync\n"), 0o755)
	cfg.Hooks.Shutdown = hook

	noHook := *cfg
	noHook.Hooks.Shutdown = ""
	r := startAgent(t, cfg, Options{})
	waitFor(t, "initial replication", 30*time.Second, func() bool { return r.a.initialDone() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := r.a.FinalSync(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(marker)
	if want := fmt.Sprintf("shutdown web01 %d\n", res.Seq); string(got) != want || !res.Stopped {
		t.Fatalf("hook marker %q (want %q), result %+v", got, want, res)
	}
	img := filepath.Join(dir, "final.img")
	os.WriteFile(img, ps.export(t, res.Seq, "sdb"), 0o600)
	out, err := exec.Command("debugfs", "-R", "cat /last", img).Output()
	if err != nil || string(out) != "stopped\n" {
		t.Fatalf("the hook's last write in the final point: %q %v", out, err)
	}
	waitFor(t, "the agent to stop replicating", 10*time.Second, func() bool { return r.a.Status().State == StateStopped })
	if _, err := r.a.FinalSync(ctx, true); err == nil || err.Error() != "replication has stopped after a final sync with shutdown" {
		t.Fatalf("second final sync: %v", err)
	}
	seq := r.a.Status().CommittedSeq
	r.a.Trigger()
	time.Sleep(500 * time.Millisecond)
	if n := len(ps.points(t)); r.a.Status().CommittedSeq != seq || ps.points(t)[seq+1] != nil {
		t.Fatalf("points after the stop: %d, committed seq %d (was %d)", n, r.a.Status().CommittedSeq, seq)
	}
	r.stop()
	// A restart does not replicate.
	r2 := startAgent(t, cfg, Options{})
	waitFor(t, "the restarted agent to say it is stopped", 10*time.Second, func() bool { return r2.has("replication-stopped") != nil })
	if ev := r2.has("connected"); ev != nil {
		t.Fatalf("the restarted agent connected: %+v", ev)
	}
	// No hook configured: refused before anything happens.
	if _, err := (&Agent{cfg: &noHook}).FinalSync(ctx, true); err == nil || err.Error() != "no shutdown hook is configured (hooks.shutdown)" {
		t.Fatalf("final sync with shutdown and no hook: %v", err)
	}
}

// A freeze that fails fails the final sync with its reason, commits nothing, leaves the journal
// removed and the filesystem writable; a failing shutdown hook fails it before any point; without
// a process server the wait ends with the connection's error.
func TestFinalSyncFailures(t *testing.T) {
	dir := t.TempDir()
	dev, mnt := ext4Device(t, dir)
	ps := startPS(t, dir)
	cfg := ps.config(t, Disk{Name: "sdb", Path: dev})
	cfg.StateDir = filepath.Join(dir, "state")
	hook := filepath.Join(dir, "shutdown.sh")
	os.WriteFile(hook, []byte("#!/bin/sh\necho cannot stop the database\nexit 4\n"), 0o755)
	cfg.Hooks.Shutdown = hook
	r := startAgent(t, cfg, Options{})
	waitFor(t, "initial replication", 30*time.Second, func() bool { return r.a.initialDone() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seq := r.a.Status().CommittedSeq

	if _, err := r.a.FinalSync(ctx, true); err == nil || err.Error() != "shutdown hook exited with code 4: cannot stop the database" {
		t.Fatalf("failing shutdown hook: %v", err)
	}
	// Frozen by someone else: FIFREEZE fails (EBUSY).
	if out, err := exec.Command("fsfreeze", "--freeze", mnt).CombinedOutput(); err != nil {
		t.Fatalf("fsfreeze: %v\n%s", err, out)
	}
	_, err := r.a.FinalSync(ctx, false)
	exec.Command("fsfreeze", "--unfreeze", mnt).Run()
	if err == nil || err.Error() != "capture the final point: freeze "+mnt+": already frozen by someone else" {
		t.Fatalf("final sync with the filesystem already frozen: %v", err)
	}
	if fe := r.last("freeze-failed"); fe == nil {
		t.Fatal("no freeze-failed event")
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, freezeJournal)); !os.IsNotExist(err) {
		t.Fatalf("freeze journal left: %v", err)
	}
	if got := ps.points(t)[seq+1]; got != nil {
		t.Fatalf("a point was committed for a failed final sync: %+v", got)
	}
	if err := os.WriteFile(filepath.Join(mnt, "after"), []byte("writable"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The agent reconnects and a final sync then succeeds.
	res, err := r.a.FinalSync(ctx, false)
	if err != nil || res.Seq <= seq {
		t.Fatalf("final sync after the failures: %+v %v", res, err)
	}
	r.stop()

	// No process server: the wait is bounded by ctx and says why.
	off := *cfg
	off.ProcessServer = "127.0.0.1:1"
	off.StateDir = filepath.Join(dir, "state-off")
	r3 := startAgent(t, &off, Options{})
	waitFor(t, "a failed connection", 10*time.Second, func() bool { return r3.a.Status().LastError != "" })
	sctx, scancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer scancel()
	_, err = r3.a.FinalSync(sctx, false)
	if want := "not connected to the process server 127.0.0.1:1: " + r3.a.Status().LastError; err == nil || err.Error() != want {
		t.Fatalf("final sync without a process server: %v, want %s", err, want)
	}
}

// A freeze that outlasts its bound is thawed by the watchdog at the bound: the final sync fails
// with that reason, nothing is committed for it, the journal is gone and writers go on.
func TestFinalSyncFreezeBound(t *testing.T) {
	dir := t.TempDir()
	dev, mnt := ext4DeviceSize(t, dir, 512<<20) // the scan tracker reads all of it under the freeze
	ps := startPS(t, dir)
	cfg := ps.config(t, Disk{Name: "sdb", Path: dev})
	cfg.StateDir = filepath.Join(dir, "state")
	r := startAgent(t, cfg, Options{})
	waitFor(t, "initial replication", 60*time.Second, func() bool { return r.a.initialDone() })
	seq := r.a.Status().CommittedSeq
	if fz := r.last("freeze"); fz != nil {
		t.Logf("a freeze with a 5s bound took %s", fz.Attrs["duration"])
	}
	// Read by the agent's loop only after it receives the final sync (a channel: no race).
	cfg.FreezeTimeout = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := r.a.FinalSync(ctx, false)
	if err == nil || err.Error() != "the freeze outlasted its bound of 100ms: point dropped" {
		t.Fatalf("final sync with a freeze past its bound: %v", err)
	}
	fe := r.last("freeze-expired")
	if fe == nil {
		t.Fatal("no freeze-expired event")
	}
	// The watchdog thaws at the bound; the capture's own thaw comes after the pass stops, so
	// the recorded freeze is the bound plus the time the pass takes to notice.
	if d, err := time.ParseDuration(fe.Attrs["duration"]); err != nil || d > cfg.FreezeTimeout+2*time.Second {
		t.Fatalf("freeze duration %q (%v)", fe.Attrs["duration"], err)
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, freezeJournal)); !os.IsNotExist(err) {
		t.Fatalf("freeze journal left: %v", err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "after"), []byte("writable"), 0o644); err != nil {
		t.Fatal(err)
	}
	if pt := ps.points(t)[seq+1]; pt != nil && pt.Labels["osr.seq"] != "" && r.a.Status().CommittedSeq == seq+1 {
		t.Fatalf("a point was committed for the failed final sync: %+v", pt)
	}
}
