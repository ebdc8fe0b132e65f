package freeze

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseMountInfo(t *testing.T) {
	in := `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:25 / /proc rw - proc proc rw
41 22 7:3 / /mnt/my\040disk rw,relatime - xfs /dev/loop3 rw
`
	got, err := ParseMountInfo(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []MountInfo{{unix.Mkdev(8, 1), "/", "ext4"}, {unix.Mkdev(0, 25), "/proc", "proc"}, {unix.Mkdev(7, 3), "/mnt/my disk", "xfs"}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, tt := range []struct{ in, err string }{
		{"1 2 3", "mountinfo line 1: 3 fields"},
		{"22 1 x / / rw shared:1 - ext4 /dev/sda1 rw", `mountinfo line 1: bad device "x"`},
		{"22 1 8:1 / / rw shared:1 a b c d", "mountinfo line 1: no separator"},
	} {
		if _, err := ParseMountInfo(tt.in); err == nil || err.Error() != tt.err {
			t.Errorf("%q: %v, want %q", tt.in, err, tt.err)
		}
	}
}

// ext4Loop makes an ext4 image, attaches it to a loop device and mounts it. It returns the image
// path, the loop device and the mount point; cleanup undoes it all.
func ext4Loop(t *testing.T) (img, dev, mnt string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (loop devices, mount, FIFREEZE)")
	}
	for _, tool := range []string{"mkfs.ext4", "losetup", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install e2fsprogs and mount (apt-get install e2fsprogs mount)", tool)
		}
	}
	dir := t.TempDir()
	img = filepath.Join(dir, "disk.img")
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	run("mkfs.ext4", "-q", "-F", img)
	dev = run("losetup", "-f", "--show", img)
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	mnt = filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	run("mount", dev, mnt)
	t.Cleanup(func() {
		exec.Command("fsfreeze", "--unfreeze", mnt).Run() // in case a test failed while frozen
		exec.Command("umount", mnt).Run()
	})
	return img, dev, mnt
}

// writeDone starts a write into dir and returns a channel closed when it has completed.
func writeDone(t *testing.T, dir string) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f, err := os.Create(filepath.Join(dir, "probe-"+time.Now().Format("150405.000000000")))
		if err != nil {
			t.Error(err)
			return
		}
		f.Write([]byte("x"))
		f.Sync()
		f.Close()
	}()
	return done
}

func blocked(done chan struct{}, d time.Duration) bool {
	select {
	case <-done:
		return false
	case <-time.After(d):
		return true
	}
}

func TestFreezeThawExt4Loop(t *testing.T) {
	img, dev, mnt := ext4Loop(t)
	for _, path := range []string{dev, img} {
		ms, err := Find(map[string]string{"sdb": path})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 1 || ms[0].Point != mnt || ms[0].FSType != "ext4" || ms[0].Disk != "sdb" {
			t.Fatalf("mounts of %s: %+v, want %s", path, ms, mnt)
		}
	}
	ms, _ := Find(map[string]string{"sdb": dev})

	// Frozen: a write waits until the thaw.
	fz, err := Freeze(ms, 10*time.Second, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := writeDone(t, mnt)
	if !blocked(done, 300*time.Millisecond) {
		fz.Thaw()
		t.Fatal("a write completed while the filesystem was frozen")
	}
	d, err := fz.Thaw()
	if err != nil || d < 300*time.Millisecond {
		t.Fatalf("thaw: %v after %v", err, d)
	}
	if blocked(done, 5*time.Second) {
		t.Fatal("write still blocked after the thaw")
	}
	if _, err := fz.Thaw(); err != nil { // a second thaw is harmless
		t.Fatal(err)
	}

	// The bound: the watchdog thaws by itself.
	fz, err = Freeze(ms, 200*time.Millisecond, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-fz.Expired():
	case <-time.After(5 * time.Second):
		t.Fatal("freeze did not expire")
	}
	if !fz.IsExpired() || blocked(writeDone(t, mnt), 5*time.Second) {
		t.Fatal("filesystem still frozen after the bound")
	}

	// An error on the second filesystem thaws the first.
	_, err = Freeze([]Mount{ms[0], ms[0]}, time.Second, nil, nil)
	if err == nil || err.Error() != "freeze "+mnt+": already frozen by someone else" {
		t.Fatalf("double freeze: %v", err)
	}
	if blocked(writeDone(t, mnt), 5*time.Second) {
		t.Fatal("filesystem left frozen after a failed freeze")
	}
	if _, err := Freeze([]Mount{{Point: filepath.Join(mnt, "nope")}}, time.Second, nil, nil); err == nil ||
		!strings.HasPrefix(err.Error(), "freeze "+filepath.Join(mnt, "nope")+": open ") {
		t.Fatalf("missing mount point: %v", err)
	}
}

func TestDevicesErrors(t *testing.T) {
	if _, err := Devices("/nonexistent/disk"); err == nil || err.Error() != "stat /nonexistent/disk: no such file or directory" {
		t.Fatalf("missing: %v", err)
	}
	if _, err := Devices(t.TempDir()); err == nil || !strings.HasSuffix(err.Error(), "is neither a block device nor a regular file") {
		t.Fatalf("directory: %v", err)
	}
	// An image file with no loop device has no filesystems mounted.
	f := filepath.Join(t.TempDir(), "x.img")
	os.WriteFile(f, make([]byte, 4096), 0o600)
	if ms, err := Find(map[string]string{"x": f}); err != nil || len(ms) != 0 {
		t.Fatalf("plain image: %v %v", ms, err)
	}
}
