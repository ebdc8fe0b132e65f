//go:build linux

package flow

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/e2e/proctest"
)

// osrBin and workloadBin are the binaries TestMain builds from ./cmd/osr and ./tools/workload.
var osrBin, workloadBin string

func TestMain(m *testing.M) {
	bin, remove, err := proctest.Build("../../../cmd/osr")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	osrBin = bin
	workloadBin = filepath.Join(filepath.Dir(bin), "workload")
	if out, err := exec.Command("go", "build", "-o", workloadBin, "../../../tools/workload").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ./tools/workload: %v\n%s", err, out)
		remove()
		os.Exit(2)
	}
	code := m.Run()
	remove()
	os.Exit(code)
}

// freePorts returns n distinct ports that were free a moment ago on 127.0.0.1 and all addresses.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var out []int
	for len(out) < n {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// osr runs the CLI (bounded to a minute) with env and returns its combined output and exit code.
func osr(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	return proctest.Run(t, time.Minute, env, append([]string{osrBin}, args...)...)
}

// mustOSR runs the CLI and fails the test unless it exits 0.
func mustOSR(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, code := osr(t, env, args...)
	if code != 0 {
		t.Fatalf("osr %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// waitFor polls cond every 250 ms until it holds or timeout passes (proctest.WaitFor).
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	return proctest.WaitFor(t, timeout, what, cond)
}

// procs are the test's osr processes (proctest.Procs): stopped when the test ends, their logs
// printed when it failed.
type procs struct{ *proctest.Procs }

func newProcs(t *testing.T) *procs { return &procs{proctest.New(t)} }

// start starts osr with args; its output is appended to NAME.log (across restarts).
func (ps *procs) start(name string, env []string, args ...string) *proctest.Proc {
	return ps.Start(name, env, append([]string{osrBin}, args...)...)
}

// ext4Loop makes a sparse image of sizeMiB with ext4 (mkfs.ext4 with mkfsArgs) on a loop device
// and mounts it; it returns the device and the mount point. It fails the test, saying what to
// install, when root or the tools are missing.
func ext4Loop(t *testing.T, sizeMiB int, mkfsArgs ...string) (dev, mnt string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (loop devices, mkfs.ext4, mount): run it as root")
	}
	for _, tool := range []string{"losetup", "mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: apt-get install e2fsprogs mount util-linux", tool)
		}
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(sizeMiB)<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v: %s", err, out)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if err := proctest.DetachLoop(dev); err != nil {
			t.Error(err)
		}
	})
	if out, err := exec.Command("mkfs.ext4", append(append([]string{"-q", "-F"}, mkfsArgs...), dev)...).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	mnt = filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", dev, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if err := proctest.Unmount(mnt); err != nil {
			t.Error(err)
		}
	})
	return dev, mnt
}

// sourceDisk is the protected disk: a small ext4 loop device, mounted, with a file written on it.
func sourceDisk(t *testing.T) string {
	t.Helper()
	dev, mnt := ext4Loop(t, 32)
	data := bytes.Repeat([]byte("osr flow test data\n"), 1<<16)
	if err := os.WriteFile(filepath.Join(mnt, "data.txt"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sync").CombinedOutput(); err != nil {
		t.Fatalf("sync: %v: %s", err, out)
	}
	return dev
}

// loopDevice attaches an image file to a loop device, detached when the test ends.
func loopDevice(t *testing.T, img string) string {
	t.Helper()
	out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup %s: %v: %s", img, err, out)
	}
	dev := strings.TrimSpace(string(out))
	// Not proctest.DetachLoop: this cleanup runs before the test's processes stop (it was
	// registered after them), and the agent protecting dev still has it open. The kernel frees the
	// device when the agent closes it; its image is in a temporary directory, on no test mount.
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	return dev
}
