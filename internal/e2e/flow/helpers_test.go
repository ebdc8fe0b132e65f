//go:build linux

package flow

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// osrBin is the binary TestMain builds from ./cmd/osr.
var osrBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "osr-flow-bin")
	if err != nil {
		panic(err)
	}
	osrBin = filepath.Join(dir, "osr")
	if out, err := exec.Command("go", "build", "-o", osrBin, "../../../cmd/osr").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ./cmd/osr: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, osrBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("osr %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), 0
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

// waitFor polls cond every 250 ms until it holds or timeout passes; then the test fails with
// what it waited for and cond's last message.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for {
		ok, msg := cond()
		if ok {
			return time.Since(start)
		}
		last = msg
		if time.Since(start) > timeout {
			t.Fatalf("waited %v for %s; last: %s", timeout, what, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// proc is a long-running osr process with its output in a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// procs are the test's processes; their logs are printed when the test fails.
type procs struct {
	t    *testing.T
	dir  string
	list []*proc
}

func newProcs(t *testing.T) *procs {
	ps := &procs{t: t, dir: t.TempDir()}
	t.Cleanup(func() {
		for i := len(ps.list) - 1; i >= 0; i-- {
			ps.list[i].stop(15 * time.Second)
		}
		if t.Failed() {
			seen := map[string]bool{}
			for _, p := range ps.list {
				if seen[p.log] {
					continue
				}
				seen[p.log] = true
				b, _ := os.ReadFile(p.log)
				if len(b) > 12000 {
					b = append([]byte("...\n"), b[len(b)-12000:]...)
				}
				t.Logf("---- log of %s ----\n%s", p.name, b)
			}
		}
	})
	return ps
}

// start starts osr with args; its output is appended to NAME.log (across restarts).
func (ps *procs) start(name string, env []string, args ...string) *proc {
	ps.t.Helper()
	logPath := filepath.Join(ps.dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		ps.t.Fatal(err)
	}
	fmt.Fprintf(f, "=== %s osr %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command(osrBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		ps.t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	ps.list = append(ps.list, p)
	return p
}

// stop sends SIGTERM and waits, then SIGKILL after timeout. It reports whether the process ended
// by itself within the timeout.
func (p *proc) stop(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return false
	}
}

// logHas reports whether the process's log holds s.
func (p *proc) logHas(s string) bool {
	b, _ := os.ReadFile(p.log)
	return bytes.Contains(b, []byte(s))
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ext4Loop makes a sparse image of sizeMiB with ext4 on a loop device and mounts it; it returns
// the device and the mount point. It fails the test, saying what to install, when root or the
// tools are missing.
func ext4Loop(t *testing.T, sizeMiB int) (dev, mnt string) {
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
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", dev).CombinedOutput(); err != nil {
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
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
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
