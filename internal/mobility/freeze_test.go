package mobility

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ext4Device makes a 64 MiB ext4 image on a loop device and mounts it; it returns the device and
// the mount point.
func ext4Device(t *testing.T, dir string) (dev, mnt string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (loop devices, mount, FIFREEZE)")
	}
	for _, tool := range []string{"mkfs.ext4", "losetup", "mount", "debugfs", "e2fsck"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: apt-get install e2fsprogs mount", tool)
		}
	}
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	img := filepath.Join(dir, "fs.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Truncate(img, 64<<20)
	run("mkfs.ext4", "-q", "-F", img)
	dev = run("losetup", "-f", "--show", img)
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	mnt = filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	run("mount", dev, mnt)
	t.Cleanup(func() {
		exec.Command("fsfreeze", "--unfreeze", mnt).Run()
		exec.Command("umount", mnt).Run()
	})
	return dev, mnt
}

// A point of a mounted ext4 is taken under a freeze, with the app hooks around it, through the real
// process server: the exported point is a clean filesystem holding the file written before it.
func TestAgentFreezeAndHooks(t *testing.T) {
	dir := t.TempDir()
	dev, mnt := ext4Device(t, dir)
	content := bytes.Repeat([]byte("osr freeze test\n"), 10000)
	if err := os.WriteFile(filepath.Join(mnt, "data.txt"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	hookLog := filepath.Join(dir, "hooks.log")
	pre := filepath.Join(dir, "pre.sh")
	post := filepath.Join(dir, "post.sh")
	os.WriteFile(pre, []byte("#!/bin/sh\necho \"$1 $2 $3\" >> "+hookLog+"\n"), 0o755)
	os.WriteFile(post, []byte("#!/bin/sh\necho \"$1 $2 $3\" >> "+hookLog+"\nexit 0\n"), 0o755)

	ps := startPS(t, dir)
	cfg := ps.config(t, Disk{Name: "sdb", Path: dev})
	cfg.StateDir = filepath.Join(dir, "state") // not on the frozen filesystem
	cfg.Hooks.PreFreeze, cfg.Hooks.PostThaw, cfg.Hooks.Timeout = pre, post, 2*time.Second
	cfg.CrashConsistentInterval, cfg.AppConsistentInterval = time.Hour, time.Second // every point is app-consistent
	r := startAgent(t, cfg, Options{})
	waitFor(t, "initial replication", 20*time.Second, func() bool { return r.a.initialDone() })
	// The first complete point is app-consistent: hooks ran around one freeze.
	fz := r.has("freeze")
	if fz == nil || fz.Attrs["mounts"] != mnt || fz.Attrs["duration"] == "" {
		t.Fatalf("freeze event %+v", fz)
	}
	log, _ := os.ReadFile(hookLog)
	if lines := strings.Split(strings.TrimSpace(string(log)), "\n"); len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "pre-freeze web01 ") || !strings.HasPrefix(lines[1], "post-thaw web01 ") {
		t.Fatalf("hook log %q", log)
	}
	// The store point's time is the freeze, not the start of the capture.
	st := r.a.Status()
	if pt := ps.points(t)[st.CommittedSeq]; pt == nil || !pt.Time.Equal(st.CaptureTime) || pt.Consistency != "app" {
		t.Fatalf("store point %+v, want time %v", pt, st.CaptureTime)
	}
	replica := filepath.Join(dir, "replica.img")
	if err := os.WriteFile(replica, ps.export(t, r.a.Status().CommittedSeq, "sdb"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("e2fsck", "-fn", replica).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck of the replica: %v\n%s", err, out)
	}
	got, err := exec.Command("debugfs", "-R", "cat /data.txt", replica).Output()
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("file in the replica: %d bytes (want %d), %v", len(got), len(content), err)
	}

	// Points taken while a writer keeps creating and fsyncing files are clean filesystems too.
	stop := make(chan struct{})
	wrote := make(chan int)
	go func() {
		n := 0
		defer func() { wrote <- n }()
		buf := bytes.Repeat([]byte{'w'}, 40000)
		for {
			select {
			case <-stop:
				return
			default:
			}
			f, err := os.Create(filepath.Join(mnt, "w"+strconv.Itoa(n%50)))
			if err != nil {
				return
			}
			f.Write(buf[:1000+n%39000])
			f.Sync()
			f.Close()
			n++
		}
	}()
	for range 2 {
		c0 := r.a.Status().CommittedSeq
		r.a.Trigger()
		waitFor(t, "a point under load", 20*time.Second, func() bool { return r.a.Status().CommittedSeq > c0 })
	}
	close(stop)
	if n := <-wrote; n == 0 {
		t.Fatal("the writer wrote nothing")
	}
	if err := os.WriteFile(replica, ps.export(t, r.a.Status().CommittedSeq, "sdb"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("e2fsck", "-fn", replica).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck of a point taken under load: %v\n%s", err, out)
	}

	// A failing pre-freeze hook makes the point crash-consistent and says so.
	os.WriteFile(pre+".new", []byte("#!/bin/sh\necho flush failed\nexit 3\n"), 0o755)
	os.Rename(pre+".new", pre)
	r.a.Trigger()
	waitFor(t, "the hook failure", 20*time.Second, func() bool { return r.has("app-consistency-failed") != nil })
	hf := r.has("hook-failed")
	if hf == nil || hf.Attrs["exit_code"] != "3" || hf.Attrs["output"] != "flush failed" || hf.Message != "pre-freeze hook exited with code 3" {
		t.Fatalf("hook failure event %+v", hf)
	}

	// A hook that hangs is stopped at the hooks' timeout.
	os.WriteFile(pre+".new", []byte("#!/bin/sh\nsleep 30\n"), 0o755)
	os.Rename(pre+".new", pre)
	start := time.Now()
	r.a.Trigger()
	waitFor(t, "the hook timeout", 20*time.Second, func() bool { return r.has("hook-timeout") != nil })
	if ht := r.has("hook-timeout"); ht.Message != "pre-freeze hook timed out after 2s" || time.Since(start) > 10*time.Second {
		t.Fatalf("hook timeout event %+v after %v", ht, time.Since(start))
	}
}
