//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// loopDisk is a file-backed loop device with ext4 mounted on it.
type loopDisk struct {
	name, file, dev, mnt string
}

// newLoopDisk makes a size-byte ext4 disk on a loop device and mounts it under dir.
// Cleanup unmounts it and detaches the device (registered now, so it runs after the cleanups
// of whatever later uses the disk).
func newLoopDisk(t *testing.T, dir, name string, size int64) *loopDisk {
	t.Helper()
	d := &loopDisk{name: name, file: filepath.Join(dir, name+".img"), mnt: filepath.Join(dir, "mnt-"+name)}
	f, err := os.Create(d.file)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d.dev = strings.TrimSpace(run(t, nil, "losetup", "--find", "--show", d.file))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", d.dev).CombinedOutput(); err != nil {
			t.Logf("losetup -d %s: %v %s", d.dev, err, out)
		}
	})
	run(t, nil, "mkfs.ext4", "-q", "-F", "-b", "4096", "-L", name, d.dev)
	if err := os.MkdirAll(d.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, nil, "mount", d.dev, d.mnt)
	t.Cleanup(func() { unmount(t, d.mnt) })
	if err := os.Mkdir(d.root(), 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// root is the directory the workload writes into.
func (d *loopDisk) root() string { return filepath.Join(d.mnt, "w") }

// unmount thaws and unmounts mnt, retrying while it is busy (a reader ending).
func unmount(t *testing.T, mnt string) {
	exec.Command("fsfreeze", "-u", mnt).Run() // a freeze left behind would hang umount
	var out []byte
	var err error
	for range 50 {
		if out, err = exec.Command("umount", mnt).CombinedOutput(); err == nil {
			return
		}
		if strings.Contains(string(out), "not mounted") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("umount %s: %v %s", mnt, err, out)
}

// workload is a running tools/workload writer.
type workload struct {
	p        *proc
	manifest string
	roots    []*loopDisk
}

// startWorkload writes into the disks' roots until stopped.
func startWorkload(t *testing.T, dir string, seed int, disks ...*loopDisk) *workload {
	t.Helper()
	w := &workload{manifest: filepath.Join(dir, fmt.Sprintf("manifest-%d.jsonl", seed)), roots: disks}
	args := []string{"run", "--manifest", w.manifest, "--seed", fmt.Sprint(seed), "--pause", "20ms",
		"--max-size", "1048576", "--max-bytes", "12582912", "--max-files", "300"}
	for _, d := range disks {
		args = append(args, "--root", d.name+"="+d.root())
	}
	w.p = start(t, dir, fmt.Sprintf("workload-%d", seed), nil, workloadBin, args...)
	// Runs before the workload is stopped: a writer blocked on a frozen file system cannot die.
	t.Cleanup(func() {
		for _, d := range disks {
			exec.Command("fsfreeze", "-u", d.mnt).Run()
		}
	})
	return w
}

// ops returns how many operations the manifest records as done.
func (w *workload) ops() int {
	b, _ := os.ReadFile(w.manifest)
	return strings.Count(string(b), `"ev":"done"`)
}

// stop ends the workload and fails the test if it failed.
func (w *workload) stop(t *testing.T) {
	t.Helper()
	w.p.stop(10 * time.Second)
	if w.p.err != nil && !strings.Contains(w.p.err.Error(), "terminated") {
		t.Fatalf("workload: %v\n%s", w.p.err, tail(w.p.log, 20))
	}
}

// pointCheck is what checkPoint found.
type pointCheck struct {
	out string // workload verify's output, admitting an instant up to the commit
	// strictOut and strictOK: the same with nothing begun after the capture time admitted (the
	// capture time is the point's instant).
	strictOut string
	strictOK  bool
}

// checkPoint exports every disk of a point, checks each file system with fsck.ext4 -n -f,
// mounts them read-only and verifies the workload's files at the point's capture time: every
// file fsynced before it is there, byte-exact, and all disks show one instant, no later than the
// point's commit. Failures are test errors. It also runs the strict check and reports it.
func checkPoint(t *testing.T, v *vault, dir string, p point, w *workload) pointCheck {
	t.Helper()
	if p.Partial {
		t.Fatalf("point %s is partial: not an image of an instant", p.ID[:12])
	}
	var roots []string
	for _, d := range w.roots {
		mnt, release := mountPoint(t, v, dir, p, d.name)
		defer release()
		roots = append(roots, "--root", d.name+"="+filepath.Join(mnt, "w"))
	}
	verify := func(slack time.Duration) (string, bool) {
		args := append([]string{"verify", "--manifest", w.manifest, "--at", p.Time.Format(time.RFC3339Nano),
			"--slack", slack.String()}, roots...)
		out, code := runCode(t, nil, workloadBin, args...)
		return strings.TrimSpace(out), code == 0
	}
	var pc pointCheck
	slack := max(p.Committed.Sub(p.Time), 0)
	var ok bool
	if pc.out, ok = verify(slack); !ok {
		t.Errorf("point %s (captured %s, committed %s, %s): workload verify --slack %v:\n%s", p.ID[:12],
			p.Time.Format(time.RFC3339Nano), p.Committed.Format(time.RFC3339Nano), p.Consistency, slack, pc.out)
	}
	pc.strictOut, pc.strictOK = verify(0)
	return pc
}

// frozen reports whether the file system on mnt is frozen now, by trying to freeze it (and
// thawing at once when that worked). Only call it while no agent may freeze the disk.
func frozen(t *testing.T, mnt string) bool {
	t.Helper()
	out, err := exec.Command("fsfreeze", "-f", mnt).CombinedOutput()
	if err == nil {
		if out, err := exec.Command("fsfreeze", "-u", mnt).CombinedOutput(); err != nil {
			t.Fatalf("fsfreeze -u %s: %v %s", mnt, err, out)
		}
		return false
	}
	if strings.Contains(string(out), "busy") {
		return true
	}
	t.Fatalf("fsfreeze -f %s: %v %s", mnt, err, out)
	return false
}

// mountPoint exports one disk of a point, checks it with fsck.ext4 -n -f and mounts it
// read-only (loop, ro, noload); it returns the mount point and a function that unmounts it and
// removes the export.
func mountPoint(t *testing.T, v *vault, dir string, p point, disk string) (string, func()) {
	t.Helper()
	img := filepath.Join(dir, fmt.Sprintf("export-%s-%s.raw", p.ID[:12], disk))
	mnt := filepath.Join(dir, fmt.Sprintf("point-%s-%s", p.ID[:12], disk))
	run(t, v.env(), osrBin, "store", "export", "--point", p.ID, "--machine", p.Machine, "--disk", disk, "--out", img)
	if out, code := runCode(t, nil, "fsck.ext4", "-n", "-f", img); code != 0 {
		t.Fatalf("point %s disk %s (captured %s): fsck.ext4 -n -f exit %d:\n%s", p.ID[:12], disk,
			p.Time.Format(time.RFC3339Nano), code, out)
	}
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, nil, "mount", "-o", "loop,ro,noload", img, mnt)
	return mnt, func() {
		unmount(t, mnt)
		os.Remove(mnt)
		os.Remove(img)
	}
}
