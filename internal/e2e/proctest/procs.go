//go:build linux

package proctest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Build compiles ./cmd/osr (pkgDir is its path from the calling test's directory) into a temporary
// directory and returns the binary's path and a function removing it.
func Build(pkgDir string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "osr-e2e-bin")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "osr")
	if out, err := exec.Command("go", "build", "-o", bin, pkgDir).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build %s: %v\n%s", pkgDir, err, out)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// Proc is a long-running process with its output in a log file.
type Proc struct {
	Name string
	Log  string // the log file (appended to across restarts of the same name)
	cmd  *exec.Cmd
	done chan struct{}
}

// Procs are a test's processes; they are stopped (SIGTERM, then SIGKILL) when the test ends, and
// their logs are printed if it failed.
type Procs struct {
	t    testing.TB
	dir  string
	list []*Proc
}

// New returns an empty set of processes for t.
func New(t testing.TB) *Procs {
	ps := &Procs{t: t, dir: t.TempDir()}
	t.Cleanup(func() {
		for i := len(ps.list) - 1; i >= 0; i-- {
			ps.list[i].Stop(15 * time.Second)
		}
		if t.Failed() {
			seen := map[string]bool{}
			for _, p := range ps.list {
				if seen[p.Log] {
					continue
				}
				seen[p.Log] = true
				b, _ := os.ReadFile(p.Log)
				if len(b) > 12000 {
					b = append([]byte("...\n"), b[len(b)-12000:]...)
				}
				t.Logf("---- log of %s ----\n%s", p.Name, b)
			}
		}
	})
	return ps
}

// Start runs argv (argv[0] is the program) with env added to the test's environment; its output
// is appended to NAME.log.
func (ps *Procs) Start(name string, env []string, argv ...string) *Proc {
	ps.t.Helper()
	logPath := filepath.Join(ps.dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		ps.t.Fatal(err)
	}
	fmt.Fprintf(f, "=== %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		ps.t.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	ps.list = append(ps.list, p)
	return p
}

// Pid is the process's ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM and waits, then SIGKILL after timeout. It reports whether the process ended
// by itself within the timeout.
func (p *Proc) Stop(timeout time.Duration) bool {
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
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return false
	}
}

// Kill sends SIGKILL to the process (and its process group) and waits for it to end.
func (p *Proc) Kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// LogHas reports whether the process's log holds s.
func (p *Proc) LogHas(s string) bool {
	b, _ := os.ReadFile(p.Log)
	return bytes.Contains(b, []byte(s))
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Run runs argv to completion (bounded by timeout) with env added and returns its combined output
// and exit code; it fails the test only when the program cannot be run at all.
func Run(t testing.TB, timeout time.Duration, env []string, argv ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return out.String(), 0
}

// WaitFor polls cond every 250 ms until it holds or timeout passes; then the test fails with what
// it waited for and cond's last message. It returns how long it waited.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
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
