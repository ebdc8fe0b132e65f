//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/mobility/tracker/ebpf"
)

// cluster is a local CA, a vault store and one process server, run as osr processes.
type cluster struct {
	t        *testing.T
	dir      string
	pki      string
	vault    *vault
	psAddr   string // where the process server listens
	psConfig string
	ps       *proc
	cache    string
	tracker  string // the agents' change tracker
}

// clusterOptions shape a cluster.
type clusterOptions struct {
	storeURL string   // default: file:// under the test's directory
	storeEnv []string // credentials of the store
	cacheDir string   // default: under the test's directory
	tracker  string   // the agents' change tracker; default scan
}

const testPassword = "e2e vault password"

// newCluster makes the CA, initialises the store and starts the process server.
func newCluster(t *testing.T, dir string, o clusterOptions) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: dir, pki: filepath.Join(dir, "pki"), cache: o.cacheDir, tracker: o.tracker}
	if c.tracker == "" {
		c.tracker = "scan"
	}
	if o.storeURL == "" {
		o.storeURL = "file://" + filepath.Join(dir, "vault")
	}
	if c.cache == "" {
		c.cache = filepath.Join(dir, "ps-cache")
	}
	c.vault = &vault{url: o.storeURL, password: testPassword, extraEnv: o.storeEnv}
	run(t, c.vault.env(), osrBin, "store", "init")
	pwFile := filepath.Join(dir, "vault-password")
	if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, nil, osrBin, "pki", "init", "--dir", c.pki)
	run(t, nil, osrBin, "pki", "issue", "--dir", c.pki, "--role", "process-server", "--name", "ps1", "--host", "127.0.0.1")
	c.psAddr = freeAddr(t)
	c.psConfig = filepath.Join(dir, "ps.yaml")
	cfg := fmt.Sprintf(`name: ps1
listen: %s
tls:
  ca: %s
  cert: %s
  key: %s
cache:
  dir: %s
  max_bytes: 4294967296 # a budget: the test machine's shared disk may be under 25%% free
store:
  repo: %s
  password_file: %s
`, c.psAddr, filepath.Join(c.pki, "ca.crt"), filepath.Join(c.pki, "ps1.crt"), filepath.Join(c.pki, "ps1.key"),
		c.cache, o.storeURL, pwFile)
	if err := os.WriteFile(c.psConfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c.startPS()
	return c
}

// startPS starts (or restarts) the process server and waits until it accepts connections.
func (c *cluster) startPS() {
	c.t.Helper()
	c.ps = start(c.t, c.dir, "process-server", c.vault.extraEnv, osrBin, "process-server", "serve", "--config", c.psConfig)
	waitFor(c.t, 20*time.Second, "the process server to listen on "+c.psAddr, func() (bool, string) {
		if c.ps.exited() {
			c.t.Fatalf("process server exited: %v\n%s", c.ps.err, tail(c.ps.log, 30))
		}
		conn, err := net.DialTimeout("tcp", c.psAddr, time.Second)
		if err != nil {
			return false, err.Error()
		}
		conn.Close()
		return true, ""
	})
}

// agent is one mobility service.
type agent struct {
	c       *cluster
	machine string
	config  string
	p       *proc
}

// newAgent issues the machine's certificate and writes its configuration; psAddr is where it
// connects (the process server, or a proxy in front of it).
func (c *cluster) newAgent(machine, psAddr string, disks ...*loopDisk) *agent {
	c.t.Helper()
	out := filepath.Join(c.pki, machine)
	run(c.t, nil, osrBin, "pki", "issue", "--dir", c.pki, "--role", "agent", "--name", machine)
	var b strings.Builder
	fmt.Fprintf(&b, `machine: %s
process_server: %s
tls:
  ca: %s
  cert: %s
  key: %s
  server_name: 127.0.0.1
state_dir: %s
tracker: %s
crash_consistent_interval: 1s
app_consistent_interval: 1h
freeze_timeout: 5s
initial_point_size: 16MiB
log_level: debug  # Durable events are logged at debug; the PS kill test reads them
disks:
`, machine, psAddr, filepath.Join(c.pki, "ca.crt"), out+".crt", out+".key", filepath.Join(c.dir, "state-"+machine), c.tracker)
	for _, d := range disks {
		fmt.Fprintf(&b, "  - name: %s\n    path: %s\n", d.name, d.dev)
	}
	// A clean stop leaves the eBPF tracker attached through pins (so that the next start needs no
	// full read); the test's machine is gone afterwards, so are they. Registered before the agent
	// starts: it runs after the agent is stopped.
	c.t.Cleanup(func() {
		if err := ebpf.RemovePins(machine); err != nil {
			c.t.Errorf("remove the eBPF pins of %s: %v", machine, err)
		}
	})
	a := &agent{c: c, machine: machine, config: filepath.Join(c.dir, "agent-"+machine+".yaml")}
	if err := os.WriteFile(a.config, []byte(b.String()), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return a
}

// start starts (or restarts) the agent.
func (a *agent) start() {
	a.c.t.Helper()
	a.p = start(a.c.t, a.c.dir, "agent-"+a.machine, nil, osrBin, "mobility", "serve", "--config", a.config)
}

// agentStatus is the part of `osr mobility status --json` the suites read.
type agentStatus struct {
	State         string    `json:"state"`
	Connected     bool      `json:"connected"`
	CommittedSeq  uint64    `json:"committed_seq"`
	PointID       string    `json:"point_id"`
	CaptureTime   time.Time `json:"capture_time"`
	RPOSeconds    float64   `json:"rpo_seconds"`
	ServerStatus  string    `json:"process_server_status"`
	LastError     string    `json:"last_error"`
	Resyncs       int       `json:"resyncs"`
	TrackingBytes int64     `json:"tracking_state_bytes"`
	TrackingGiB   int64     `json:"tracking_state_bytes_per_gib"`
	Events        []struct {
		Time    time.Time `json:"time"`
		Kind    string    `json:"kind"`
		Level   string    `json:"level"`
		Message string    `json:"message"`
	} `json:"events"`
}

// status runs osr mobility status --json.
func (a *agent) status() (*agentStatus, error) {
	a.c.t.Helper()
	out, code := runCode(a.c.t, nil, osrBin, "mobility", "status", "--config", a.config, "--json")
	if code != 0 {
		return nil, fmt.Errorf("mobility status: exit %d: %s", code, strings.TrimSpace(out))
	}
	var st agentStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("mobility status --json: %w: %q", err, out)
	}
	return &st, nil
}

// events returns the agent's recent events, one "kind: message" a line.
func (st *agentStatus) events() string {
	var b strings.Builder
	for _, e := range st.Events {
		fmt.Fprintf(&b, "%s %s %s: %s\n", e.Time.Format("15:04:05.000"), e.Level, e.Kind, e.Message)
	}
	return b.String()
}

// waitPoints waits until the machine has at least n complete points captured after since.
func (c *cluster) waitPoints(machine string, n int, since time.Time, timeout time.Duration) []point {
	c.t.Helper()
	var got []point
	waitFor(c.t, timeout, fmt.Sprintf("%d complete points of %s captured after %s", n, machine, since.Format("15:04:05.000")),
		func() (bool, string) {
			ps, err := c.vault.points(c.t, machine)
			if err != nil {
				return false, err.Error()
			}
			got = got[:0]
			for _, p := range complete(ps) {
				if p.Time.After(since) {
					got = append(got, p)
				}
			}
			return len(got) >= n, fmt.Sprintf("%d points (%d listed)", len(got), len(ps))
		})
	return got
}

// waitRPO waits until the agent reports an RPO below limit while connected.
func (a *agent) waitRPO(limit time.Duration, timeout time.Duration) *agentStatus {
	a.c.t.Helper()
	var st *agentStatus
	waitFor(a.c.t, timeout, fmt.Sprintf("the RPO of %s to fall below %v", a.machine, limit), func() (bool, string) {
		var err error
		if st, err = a.status(); err != nil {
			return false, err.Error()
		}
		ok := st.Connected && st.RPOSeconds >= 0 && st.RPOSeconds < limit.Seconds()
		return ok, fmt.Sprintf("state %s connected %v rpo %.1fs last error %q", st.State, st.Connected, st.RPOSeconds, st.LastError)
	})
	return st
}

// storeCheck runs osr store check --read-data and fails the test unless it finds no problem.
func (c *cluster) storeCheck() {
	c.t.Helper()
	out := run(c.t, c.vault.env(), osrBin, "store", "check", "--read-data")
	if !strings.Contains(out, "no problems found") {
		c.t.Fatalf("store check: %s", out)
	}
}

// freeAddr returns a loopback address nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// dumpOnFailure logs the tails of the cluster's logs when the test failed.
func (c *cluster) dumpOnFailure() {
	c.t.Cleanup(func() {
		if !c.t.Failed() {
			return
		}
		logs, _ := filepath.Glob(filepath.Join(c.dir, "*.log"))
		for _, l := range logs {
			c.t.Logf("--- %s (tail)\n%s", filepath.Base(l), tail(l, 40))
		}
	})
}
