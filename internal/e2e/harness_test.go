//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Binaries built once by TestMain.
var (
	osrBin      string
	workloadBin string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "osr-e2e-pipeline-bin")
	if err != nil {
		panic(err)
	}
	osrBin = filepath.Join(dir, "osr")
	workloadBin = filepath.Join(dir, "workload")
	for _, b := range []struct{ out, pkg string }{{osrBin, "../../cmd/osr"}, {workloadBin, "../../tools/workload"}} {
		out, err := exec.Command("go", "build", "-o", b.out, b.pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b.pkg, err, out)
			os.RemoveAll(dir)
			os.Exit(2)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needRoot fails the test when loop devices and mounts are not available.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this suite needs root (loop devices, mkfs.ext4, mount, fsfreeze): run the tests as root")
	}
	for _, tool := range []string{"losetup", "mkfs.ext4", "fsck.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: apt-get install e2fsprogs mount util-linux", tool)
		}
	}
}

// run runs a command and returns its combined output; it fails the test on a non-zero exit.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, code := runCode(t, env, name, args...)
	if code != 0 {
		t.Fatalf("%s %s: exit %d\n%s", filepath.Base(name), strings.Join(args, " "), code, out)
	}
	return out
}

// runCode runs a command (bounded to two minutes) and returns its combined output and exit code.
func runCode(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return out.String(), 0
}

// waitFor polls cond every 100 ms until it holds or timeout passes; then the test fails with
// what it waited for and, from cond's last message, why.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last: %s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// proc is a long-running child process with its log in a file.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// start starts a child whose output goes to logs/NAME.log (appended, across restarts).
func start(t *testing.T, logDir, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "=== %s start %s %s\n", time.Now().Format(time.RFC3339Nano), filepath.Base(bin), strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Pdeathsig: children die with the test binary, even when it is killed before its cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{t: t, name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(10 * time.Second) })
	return p
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

// kill9 kills the process with SIGKILL and waits for it.
func (p *proc) kill9() {
	if !p.exited() {
		p.cmd.Process.Signal(syscall.SIGKILL)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s did not die of SIGKILL within 10s", p.name)
	}
}

// stop sends SIGTERM and waits up to grace, then SIGKILL. It returns whether the process
// ended by itself within grace.
func (p *proc) stop(grace time.Duration) bool {
	if p.exited() {
		return true
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		p.cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second): // stuck in the kernel (a frozen file system)
			p.t.Errorf("%s (pid %d) did not die of SIGKILL within 10s", p.name, p.cmd.Process.Pid)
		}
		return false
	}
}

// logText returns the process's log.
func (p *proc) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// point is what osr store ls --json says of a recovery point.
type point struct {
	ID          string            `json:"id"`
	Machine     string            `json:"machine"`
	Time        time.Time         `json:"time"`
	Consistency string            `json:"consistency"`
	Parent      string            `json:"parent"`
	Partial     bool              `json:"partial"`
	Labels      map[string]string `json:"labels"`
	Committed   time.Time         `json:"committed"`
	Disks       []struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
	} `json:"disks"`
}

// vault is a store as the osr store commands see it.
type vault struct {
	url, password string
	extraEnv      []string
}

func (v *vault) env() []string {
	return append([]string{"OSR_REPO=" + v.url, "OSR_PASSWORD=" + v.password}, v.extraEnv...)
}

// points lists the machine's points, oldest first.
func (v *vault) points(t *testing.T, machine string) ([]point, error) {
	t.Helper()
	out, code := runCode(t, v.env(), osrBin, "store", "ls", "--machine", machine, "--json")
	if code != 0 {
		if strings.Contains(out, "has no recovery point") {
			return nil, nil
		}
		return nil, fmt.Errorf("store ls: exit %d: %s", code, strings.TrimSpace(out))
	}
	var ps []point
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		return nil, fmt.Errorf("store ls --json: %w: %q", err, out)
	}
	return ps, nil
}

// complete returns the points that are not partial.
func complete(ps []point) []point {
	var out []point
	for _, p := range ps {
		if !p.Partial {
			out = append(out, p)
		}
	}
	return out
}
