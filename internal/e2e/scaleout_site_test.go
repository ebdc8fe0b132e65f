//go:build linux

package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scaleSite is the processes and files of TestScaleOut.
type scaleSite struct {
	t        *testing.T
	dir      string
	env      []string // for the vault commands
	cs       string   // the configuration server's data directory
	psA, psB *proc
	psBAddr  string
	agents   []*scaleAgent
	store    []string // env of the store commands
	cs2      *proc
}

// scaleAgent is one managed agent on a 64 MiB disk image.
type scaleAgent struct {
	name   string
	img    string
	config string
	p      *proc
	states []imageState // the image's contents over time, oldest first
}

// imageState is the image's SHA-256 from the start of the write that made it.
type imageState struct {
	start, end time.Time
	sum        [32]byte
}

const scaleImageSize = 64 << 20

func newScaleSite(t *testing.T, machines int) *scaleSite {
	dir := t.TempDir()
	s := &scaleSite{t: t, dir: dir}
	up := filepath.Join(dir, "up")
	ports := make([]int, 9) // distinct: every listener stays open until all are chosen
	var ls []net.Listener
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range ls {
		l.Close()
	}
	s.env = []string{"OSR_DATA_DIR=" + up, "OSR_VAULT=", "OSR_SERVER=", "OSR_TOKEN_FILE=", "OSR_CA_FILE="}
	upP := start(t, dir, "up", s.env, osrBin, "up", "--data-dir", up, "--listen", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--api-port", strconv.Itoa(ports[1]), "--ps-port", strconv.Itoa(ports[2]), "--health-listen", fmt.Sprintf("127.0.0.1:%d", ports[3]))
	waitFor(t, 60*time.Second, "osr up", func() (bool, string) {
		if upP.exited() {
			t.Fatalf("osr up exited:\n%s", tail(upP.log, 30))
		}
		return strings.Contains(upP.logText(), "osr is up."), "not up yet"
	})
	key := filepath.Join(dir, "cs2.key")
	run(t, s.env, osrBin, "vault", "registration-key", "--vault", "default", "--out", key)
	s.cs = filepath.Join(dir, "cs2")
	run(t, s.env, osrBin, "config-server", "install", "--registration-key", key, "--cache-dir", filepath.Join(dir, "cache-a"),
		"--cache-size", "4GiB", "--data-dir", s.cs, "--name", "cs2", "--api-port", strconv.Itoa(ports[4]), "--port", strconv.Itoa(ports[5]),
		"--health-listen", fmt.Sprintf("127.0.0.1:%d", ports[6]), "--listen-address", "127.0.0.1")
	// The scale-out settings before anything replicates: 2 slots per process server, and a
	// process server its agents cannot reach for 3 s is lost.
	s.cs2 = start(t, dir, "cs2", nil, osrBin, "config-server", "serve", "--data-dir", s.cs, "--vault-interval", "1s")
	waitFor(t, 20*time.Second, "the configuration server's admin socket", func() (bool, string) {
		_, err := os.Stat(filepath.Join(s.cs, "admin.sock"))
		return err == nil, fmt.Sprint(err)
	})
	out := s.osr(nil, "process-server", "scale-out", "--data-dir", s.cs, "--resync-budget", "2", "--site-resync-budget", "0",
		"--unreachable-after", "3s", "--hold", "10m")
	if !strings.Contains(out, "Resync budget: 2 per process server, no cap for the site.") {
		t.Fatalf("scale-out settings:\n%s", out)
	}
	s.psA = start(t, dir, "ps-a", nil, osrBin, "process-server", "serve", "--config", filepath.Join(s.cs, "process-server", "process-server.yaml"))
	pass := filepath.Join(dir, "passphrase")
	if err := os.WriteFile(pass, []byte(s.osr(nil, "config-server", "passphrase", "--data-dir", s.cs)), 0o600); err != nil {
		t.Fatal(err)
	}
	csAddr := fmt.Sprintf("127.0.0.1:%d", ports[4])
	psbDir := filepath.Join(dir, "psb")
	s.psBAddr = fmt.Sprintf("127.0.0.1:%d", ports[7])
	s.osr(nil, "process-server", "install", "--config-server", csAddr, "--passphrase-file", pass, "--name", "psb",
		"--cache-dir", filepath.Join(dir, "cache-b"), "--cache-size", "4GiB", "--dir", psbDir, "--port", strconv.Itoa(ports[7]),
		"--listen-address", "127.0.0.1", "--health-listen", fmt.Sprintf("127.0.0.1:%d", ports[8]))
	s.psB = start(t, dir, "ps-b", nil, osrBin, "process-server", "serve", "--config", filepath.Join(psbDir, "process-server.yaml"))
	for _, p := range []*proc{s.psA, s.psB} {
		waitFor(t, 30*time.Second, p.name+" serving the vault's store", func() (bool, string) {
			if p.exited() {
				t.Fatalf("%s exited:\n%s", p.name, tail(p.log, 30))
			}
			return strings.Contains(p.logText(), "process server listening"), "not listening yet"
		})
	}
	for i := range machines {
		a := &scaleAgent{name: fmt.Sprintf("web%02d", i+1), img: filepath.Join(dir, fmt.Sprintf("web%02d.img", i+1))}
		f, err := os.Create(a.img)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(f, rand.Reader, scaleImageSize); err != nil {
			t.Fatal(err)
		}
		f.Close()
		a.states = []imageState{{sum: fileSum(t, a.img)}}
		adir := filepath.Join(dir, "agent-"+a.name)
		s.osr(nil, "mobility", "install", "--config-server", csAddr, "--passphrase-file", pass, "--disk", "sda="+a.img,
			"--name", a.name, "--dir", adir, "--state-dir", filepath.Join(dir, "state-"+a.name))
		a.config = filepath.Join(adir, "mobility.yaml")
		a.p = start(t, dir, "agent-"+a.name, nil, osrBin, "mobility", "serve", "--config", a.config)
		s.agents = append(s.agents, a)
	}
	// The store, as the process servers reach it.
	psCfg, err := os.ReadFile(filepath.Join(s.cs, "process-server", "process-server.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	repo := ""
	for _, l := range strings.Split(string(psCfg), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "repo: "); ok {
			repo = strings.Trim(v, `"`)
		}
	}
	if repo == "" {
		t.Fatalf("no store in the process server's configuration:\n%s", psCfg)
	}
	pw, err := os.ReadFile(filepath.Join(s.cs, "process-server", "store.password"))
	if err != nil {
		t.Fatal(err)
	}
	s.store = []string{"OSR_REPO=" + repo, "OSR_PASSWORD=" + strings.TrimRight(string(pw), "\r\n")}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
			for _, l := range logs {
				t.Logf("--- %s (tail)\n%s", filepath.Base(l), tail(l, 25))
			}
		}
	})
	return s
}

func (s *scaleSite) osr(env []string, args ...string) string {
	s.t.Helper()
	return run(s.t, env, osrBin, args...)
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// write writes n random 4 KiB blocks at random places of the image and records its new state.
func (a *scaleAgent) write(t *testing.T, n int) {
	t.Helper()
	f, err := os.OpenFile(a.img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var pos [8]byte
	st := imageState{start: time.Now()}
	for range n {
		rand.Read(buf)
		rand.Read(pos[:])
		off := int64(uint64(pos[0])|uint64(pos[1])<<8|uint64(pos[2])<<16) % (scaleImageSize / 4096) * 4096
		if _, err := f.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	st.end = time.Now()
	st.sum = fileSum(t, a.img)
	a.states = append(a.states, st)
}

// scaleStatus is the part of osr mobility status --json the test reads.
type scaleStatus struct {
	State         string    `json:"state"`
	Connected     bool      `json:"connected"`
	ProcessServer string    `json:"process_server"`
	CommittedSeq  uint64    `json:"committed_seq"`
	CaptureTime   time.Time `json:"capture_time"`
	RPOSeconds    float64   `json:"rpo_seconds"`
	SentBytes     int64     `json:"sent_bytes"`
	Resyncs       int       `json:"resyncs"`
	LastError     string    `json:"last_error"`
	Events        []struct {
		Time    time.Time `json:"time"`
		Kind    string    `json:"kind"`
		Message string    `json:"message"`
	} `json:"events"`
}

func (s *scaleSite) status(a *scaleAgent) (*scaleStatus, error) {
	out, code := runCode(s.t, nil, osrBin, "mobility", "status", "--config", a.config, "--json")
	if code != 0 && !strings.HasPrefix(strings.TrimSpace(out), "{") {
		return nil, fmt.Errorf("mobility status: exit %d: %s", code, strings.TrimSpace(out))
	}
	var st scaleStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("mobility status --json: %w: %q", err, out)
	}
	return &st, nil
}

// scaleView is the part of osr process-server scale-out --json the test reads.
type scaleView struct {
	ProcessServers []struct {
		Name            string `json:"name"`
		Address         string `json:"address"`
		ResyncSlotsUsed int    `json:"resync_slots_used"`
	} `json:"process_servers"`
	Machines []struct {
		Machine       string `json:"machine"`
		ProcessServer string `json:"process_server"`
		State         string `json:"state"`
	} `json:"machines"`
	Events []struct {
		Machine   string `json:"machine"`
		From      string `json:"from"`
		To        string `json:"to"`
		Automatic bool   `json:"automatic"`
		Reason    string `json:"reason"`
	} `json:"events"`
}

func (s *scaleSite) view() *scaleView {
	s.t.Helper()
	var v scaleView
	if err := json.Unmarshal([]byte(s.osr(nil, "process-server", "scale-out", "--data-dir", s.cs, "--json")), &v); err != nil {
		s.t.Fatal(err)
	}
	return &v
}

// capture writes a few blocks, asks for a point and waits until one captured after the write is
// committed.
func (s *scaleSite) capture(a *scaleAgent) *scaleStatus {
	s.t.Helper()
	a.write(s.t, 4)
	after := a.states[len(a.states)-1].end
	var st *scaleStatus
	var asked time.Time
	waitFor(s.t, 60*time.Second, a.name+"'s point after its write", func() (bool, string) {
		if time.Since(asked) > time.Second {
			runCode(s.t, nil, osrBin, "mobility", "capture", "--config", a.config)
			asked = time.Now()
		}
		var err error
		if st, err = s.status(a); err != nil {
			return false, err.Error()
		}
		return st.CaptureTime.After(after), fmt.Sprintf("state %s, newest capture %s, error %q", st.State, st.CaptureTime.Format(time.RFC3339Nano), st.LastError)
	})
	return st
}

// moved waits until every agent replicates through addr again (connected there, with a point
// captured after since) and returns how long that took from since.
func (s *scaleSite) moved(agents []*scaleAgent, addr string, since time.Time) time.Duration {
	s.t.Helper()
	var last, asked time.Time
	for _, a := range agents {
		waitFor(s.t, 90*time.Second, a.name+" replicating through "+addr, func() (bool, string) {
			st, err := s.status(a)
			if err != nil {
				return false, err.Error()
			}
			if !st.Connected || st.ProcessServer != addr {
				return false, fmt.Sprintf("on %s, connected %v, error %q", st.ProcessServer, st.Connected, st.LastError)
			}
			if !st.CaptureTime.After(since) {
				if time.Since(asked) > time.Second {
					runCode(s.t, nil, osrBin, "mobility", "capture", "--config", a.config)
					asked = time.Now()
				}
				return false, "no point since " + since.Format(time.RFC3339Nano)
			}
			last = time.Now()
			return true, ""
		})
	}
	return last.Sub(since)
}

// noResync checks that the agent did not resynchronise since before and sent at most limit bytes.
func (s *scaleSite) noResync(a *scaleAgent, before *scaleStatus, limit int64) {
	s.t.Helper()
	st, err := s.status(a)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, e := range st.Events {
		if e.Kind == "resync" && e.Time.After(before.CaptureTime) {
			s.t.Errorf("%s resynchronised: %s", a.name, e.Message)
		}
	}
	sent := st.SentBytes - before.SentBytes
	s.t.Logf("%s: %d bytes sent since, resyncs %d → %d", a.name, sent, before.Resyncs, st.Resyncs)
	if st.Resyncs != before.Resyncs {
		s.t.Errorf("%s: resyncs went from %d to %d", a.name, before.Resyncs, st.Resyncs)
	}
	if sent > limit {
		s.t.Errorf("%s sent %d bytes, more than %d: it sent its disk again, not what was not committed", a.name, sent, limit)
	}
}

func (s *scaleSite) psAAddr() string {
	for _, p := range s.view().ProcessServers {
		if p.Name == "cs2" {
			return p.Address
		}
	}
	s.t.Fatal("no process server cs2")
	return ""
}

// switchPhase: web01 and web02 to B with points in flight, then web01 back to A.
