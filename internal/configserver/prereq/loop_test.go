package prereq

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCacheSpaceLoopMount measures a real 64 MiB ext4 file system on a loop device: far below the
// 5 GiB needed, so the check fails with the free space statfs reports.
func TestCacheSpaceLoopMount(t *testing.T) {
	for _, tool := range []string{"losetup", "mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install util-linux, e2fsprogs and mount (apt-get install util-linux e2fsprogs mount)", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a loop device and must run as root")
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "cache.img")
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("truncate", "-s", "64M", img)
	run("mkfs.ext4", "-q", "-F", img)
	dev := run("losetup", "--find", "--show", img)
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	run("mount", dev, mnt)
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })

	free, err := statfsFree(filepath.Join(mnt, "cache")) // not created yet: its parent is measured
	if err != nil {
		t.Fatal(err)
	}
	if free == 0 || free > 64<<20 {
		t.Fatalf("free %d bytes on a 64 MiB file system", free)
	}
	got := Run(context.Background(), []Check{CacheSpace(Default(nil), filepath.Join(mnt, "cache"))})[0]
	want := Result{Check: "cache space", Status: Fail, Message: GiB(free) + " free in " + filepath.Join(mnt, "cache") + ", less than the 5 GiB needed",
		Fix: "choose a --cache-dir on a file system with at least 5 GiB free (600 GiB recommended)"}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}
