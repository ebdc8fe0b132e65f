//go:build linux

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/mobility"
)

// BenchmarkScaleOutThroughput measures the aggregate initial-replication throughput of many
// agents (osr mobility serve, 64 MiB images of random data) into one file:// store through one
// process server, then through two with the agents split between them:
//
//	go test -run XXX -bench ScaleOutThroughput -benchtime 1x ./internal/e2e/
//
// Each run starts from an empty store; the time runs from the agents' start until every one has
// a complete point committed. MiB/s is the disks' bytes over that time.
func BenchmarkScaleOutThroughput(b *testing.B) {
	const agents = 8
	dir := b.TempDir()
	imgs := make([]string, agents)
	for i := range imgs {
		imgs[i] = filepath.Join(dir, fmt.Sprintf("m%02d.img", i))
		f, err := os.Create(imgs[i])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyN(f, rand.Reader, scaleImageSize); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	for _, pss := range []int{1, 2} {
		b.Run(fmt.Sprintf("process-servers=%d", pss), func(b *testing.B) {
			for i := range b.N {
				d := replicateAll(b, filepath.Join(dir, fmt.Sprintf("run-%d-%d", pss, i)), imgs, pss)
				b.ReportMetric(float64(agents*scaleImageSize)/(1<<20)/d.Seconds(), "MiB/s")
				b.ReportMetric(d.Seconds(), "s/run")
			}
		})
	}
}

// benchProc is a child process of the benchmark.
type benchProc struct{ cmd *exec.Cmd }

func benchStart(b *testing.B, log string, args ...string) *benchProc {
	b.Helper()
	f, err := os.Create(log)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(osrBin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &benchProc{cmd: cmd}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		f.Close()
	})
	return p
}

func benchRun(b *testing.B, env []string, args ...string) {
	b.Helper()
	cmd := exec.Command(osrBin, args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("osr %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// replicateAll replicates every image through pss process servers and returns how long it took.
func replicateAll(b *testing.B, dir string, imgs []string, pss int) time.Duration {
	b.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	storeURL := "file://" + filepath.Join(dir, "vault")
	env := []string{"OSR_REPO=" + storeURL, "OSR_PASSWORD=" + testPassword}
	benchRun(b, env, "store", "init")
	pw := filepath.Join(dir, "vault-password")
	os.WriteFile(pw, []byte(testPassword+"\n"), 0o600)
	pk := filepath.Join(dir, "pki")
	benchRun(b, nil, "pki", "init", "--dir", pk)
	var addrs []string
	for i := range pss {
		name := fmt.Sprintf("ps%d", i+1)
		benchRun(b, nil, "pki", "issue", "--dir", pk, "--role", "process-server", "--name", name, "--host", "127.0.0.1")
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		cfg := filepath.Join(dir, name+".yaml")
		os.WriteFile(cfg, []byte(fmt.Sprintf("name: %s\nlisten: %s\ntls:\n  ca: %s\n  cert: %s\n  key: %s\ncache:\n  dir: %s\n  max_bytes: 4294967296\nstore:\n  repo: %s\n  password_file: %s\n",
			name, addr, filepath.Join(pk, "ca.crt"), filepath.Join(pk, name+".crt"), filepath.Join(pk, name+".key"),
			filepath.Join(dir, "cache-"+name), storeURL, pw)), 0o600)
		benchStart(b, filepath.Join(dir, name+".log"), "process-server", "serve", "--config", cfg)
		deadline := time.Now().Add(20 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s does not listen on %s", name, addr)
			}
			time.Sleep(50 * time.Millisecond)
		}
		addrs = append(addrs, addr)
	}
	var cfgs []string
	for i, img := range imgs {
		m := fmt.Sprintf("m%02d", i)
		benchRun(b, nil, "pki", "issue", "--dir", pk, "--role", "agent", "--name", m)
		state := filepath.Join(dir, "state-"+m)
		cfg := filepath.Join(dir, m+".yaml")
		os.WriteFile(cfg, []byte(fmt.Sprintf("machine: %s\nprocess_server: %s\ntls:\n  ca: %s\n  cert: %s\n  key: %s\n  server_name: 127.0.0.1\nstate_dir: %s\ntracker: scan\ncrash_consistent_interval: 1s\napp_consistent_interval: 1h\ninitial_point_size: 16MiB\ndisks:\n  - name: sda\n    path: %s\n",
			m, addrs[i%len(addrs)], filepath.Join(pk, "ca.crt"), filepath.Join(pk, m+".crt"), filepath.Join(pk, m+".key"), state, img)), 0o600)
		cfgs = append(cfgs, state)
	}
	b.ResetTimer()
	began := time.Now()
	for i := range imgs {
		benchStart(b, filepath.Join(dir, fmt.Sprintf("agent-%d.log", i)), "mobility", "serve", "--config", filepath.Join(dir, fmt.Sprintf("m%02d.yaml", i)))
	}
	for _, state := range cfgs {
		for !agentProtected(state) {
			if time.Since(began) > 5*time.Minute {
				b.Fatalf("the agent of %s did not protect its disk within 5 minutes", state)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	d := time.Since(began)
	b.StopTimer()
	return d
}

// agentProtected asks the agent's status socket whether its first complete point is committed.
func agentProtected(stateDir string) bool {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", mobility.SocketPath(stateDir))
		},
	}}
	resp, err := hc.Get("http://agent/status")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var st mobility.Status
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return false
	}
	return st.State == mobility.StateProtected && st.CommittedSeq > 0
}
