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

// TestScaleOut runs a site as users do, on the built binary: osr up (the vault), a configuration
// server with its default process server (A, a process of its own) and a scale-out process
// server (B), and five managed agents on disk images. It checks, on real TLS sockets and a real
// file:// vault store:
//   - the resync budget: with 2 slots per process server and 5 machines enabled at once, never
//     more than 2 initial replications run, the others are shown queued, all end protected;
//   - a switch of 2 machines from A to B with points in flight: replication goes on within
//     seconds, no resync, and the agents send about what was not committed, not their disks;
//     one machine switched back to A (which must catch up with B's commits) does not resync either;
//   - kill -9 of A: its machines move to B by themselves and replicate again, RPO back under the
//     policy's threshold, no resync;
//   - A restarted: osr process-server balance moves 2 of the 5 machines back to it, which
//     replicate through it without a resync (automatic moves would not: A is held for 10 min);
//   - every complete point of every machine exports byte-exact (as the image was when captured).
func TestScaleOut(t *testing.T) {
	s := newScaleSite(t, 5)
	s.budgetPhase()
	s.switchPhase()
	s.failoverPhase()
	s.balancePhase()
	s.verifyPoints()
}

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

// budgetPhase: every machine on A, 5 enabled at once, 2 slots: never more than 2 at a time.
func (s *scaleSite) budgetPhase() {
	t := s.t
	waitFor(t, 60*time.Second, "every agent's heartbeat at the configuration server", func() (bool, string) {
		out := s.osr(nil, "infrastructure", "--data-dir", s.cs, "--json")
		var inf struct {
			ConfigurationServers []struct {
				Agents []struct {
					Status string `json:"status"`
				} `json:"agents"`
			} `json:"configuration_servers"`
		}
		if err := json.Unmarshal([]byte(out), &inf); err != nil || len(inf.ConfigurationServers) != 1 {
			return false, out
		}
		n := 0
		for _, a := range inf.ConfigurationServers[0].Agents {
			if a.Status == "Connected" {
				n++
			}
		}
		return n == len(s.agents), out
	})
	if out, code := runCode(t, nil, osrBin, "process-server", "switch", "--from", "psb", "--to", "cs2", "--yes", "--data-dir", s.cs); code != 0 &&
		!strings.Contains(out, "process server psb has no machines: nothing to move") {
		t.Fatalf("switch to A: exit %d\n%s", code, out)
	}
	s.osr(s.env, "policy", "create", "gold", "--vault", "default", "--rpo-threshold", "1m", "--retention", "1h",
		"--app-consistent-frequency", "5m", "--crash-consistent-frequency", "30s")
	s.osr(s.env, "policy", "associate", "gold", "--vault", "default", "--config-server", "cs2")
	for _, a := range s.agents { // at once: each is enabled as soon as the vault's inventory has it
		waitFor(t, 30*time.Second, a.name+" in the vault's inventory", func() (bool, string) {
			out, code := runCode(t, s.env, osrBin, "replication", "enable", a.name, "--policy", "gold", "--vault", "default")
			return code == 0, out
		})
	}
	enabled := time.Now()
	maxSlots, maxRunning, queued := 0, 0, map[string]bool{}
	waitFor(t, 3*time.Minute, "every machine protected", func() (bool, string) {
		v := s.view()
		running, protected := 0, 0
		var states []string
		for _, m := range v.Machines {
			switch m.State {
			case "initial-replication", "resynchronising":
				running++
			case "protected":
				protected++
			case "queued":
				queued[m.Machine] = true
			}
			states = append(states, m.Machine+"="+m.State)
		}
		for _, p := range v.ProcessServers {
			maxSlots = max(maxSlots, p.ResyncSlotsUsed)
		}
		maxRunning = max(maxRunning, running)
		return protected == len(s.agents), strings.Join(states, " ")
	})
	t.Logf("budget: 5 machines protected %v after enable; at most %d initial replications at once, %d slots used at most, queued: %v",
		time.Since(enabled).Round(time.Second), maxRunning, maxSlots, queued)
	if maxSlots > 2 || maxRunning > 2 {
		t.Errorf("the budget of 2 let %d slots and %d initial replications run at once", maxSlots, maxRunning)
	}
	if len(queued) == 0 {
		t.Error("no machine was ever shown queued: the budget did not hold any back")
	}
	for _, a := range s.agents {
		s.capture(a)
	}
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
func (s *scaleSite) switchPhase() {
	t := s.t
	two := s.agents[:2]
	var before []*scaleStatus
	for _, a := range two {
		st, err := s.status(a)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, st)
		a.write(t, 256) // 1 MiB not yet sent
		runCode(t, nil, osrBin, "mobility", "capture", "--config", a.config)
	}
	began := time.Now()
	out := s.osr(nil, "process-server", "switch", "--from", "cs2", "--to", "psb", "web01", "web02", "--yes", "--data-dir", s.cs)
	if !strings.Contains(out, "Moved 2 machines") || !strings.Contains(out, "CHANGE RATE (AVG)") {
		t.Fatalf("switch:\n%s", out)
	}
	took := s.moved(two, s.psBAddr, began)
	t.Logf("switch of 2 machines A → B: replicating through B %v after the command began", took.Round(10*time.Millisecond))
	for i, a := range two {
		s.capture(a)
		s.noResync(a, before[i], 8<<20)
	}
	// web01 back to A, which has not seen B's commits: it must catch up, not resend or resync.
	a := s.agents[0]
	st, err := s.status(a)
	if err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	s.osr(nil, "process-server", "switch", "--from", "psb", "--to", "cs2", "web01", "--yes", "--data-dir", s.cs)
	t.Logf("switch of web01 back B → A: replicating through A %v after the command", s.moved(s.agents[:1], s.psAAddr(), began).Round(10*time.Millisecond))
	s.capture(a)
	s.noResync(a, st, 4<<20)
}

// failoverPhase: kill -9 of A with points in flight; its machines go to B by themselves.
func (s *scaleSite) failoverPhase() {
	t := s.t
	var onA []*scaleAgent
	var before []*scaleStatus
	for _, a := range s.agents {
		if a.name == "web02" {
			continue // on B since the switch
		}
		st, err := s.status(a)
		if err != nil {
			t.Fatal(err)
		}
		onA, before = append(onA, a), append(before, st)
		a.write(t, 64)
		runCode(t, nil, osrBin, "mobility", "capture", "--config", a.config)
	}
	killed := time.Now()
	s.psA.kill9()
	took := s.moved(onA, s.psBAddr, killed)
	t.Logf("kill -9 of A: its %d machines replicating through B again %v after the kill", len(onA), took.Round(10*time.Millisecond))
	auto := 0
	for _, e := range s.view().Events {
		if e.Automatic && e.From == "cs2" && e.To == "psb" && strings.HasPrefix(e.Reason, "process server cs2 is lost: its 4 replicating agents cannot reach it") {
			auto++
		}
	}
	if auto != len(onA) {
		t.Errorf("%d automatic moves off A recorded, want %d:\n%s", auto, len(onA), s.osr(nil, "process-server", "scale-out", "--data-dir", s.cs))
	}
	for i, a := range onA {
		st := s.capture(a)
		if st.RPOSeconds >= 60 {
			t.Errorf("%s: RPO %.0fs after the failover, over the policy's 1m", a.name, st.RPOSeconds)
		}
		s.noResync(a, before[i], 8<<20)
	}
	t.Log(s.osr(nil, "process-server", "scale-out", "--data-dir", s.cs))
}

// verifyPoints exports every complete point of every machine and compares it with the image as
// it was between the point's capture and its commit.
func (s *scaleSite) verifyPoints() {
	t := s.t
	n := 0
	for _, a := range s.agents {
		out := s.osr(s.store, "store", "ls", "--machine", a.name, "--json")
		var pts []point
		if err := json.Unmarshal([]byte(out), &pts); err != nil {
			t.Fatal(err)
		}
		for _, p := range complete(pts) {
			file := filepath.Join(s.dir, "export.img")
			s.osr(s.store, "store", "export", "--point", p.ID, "--machine", a.name, "--disk", "sda", "--out", file)
			sum := fileSum(t, file)
			os.Remove(file)
			ok := false
			for i, st := range a.states {
				existed := i == 0 || !st.start.After(p.Committed)
				superseded := i+1 < len(a.states) && a.states[i+1].end.Before(p.Time)
				if existed && !superseded && st.sum == sum {
					ok = true
				}
			}
			if !ok {
				t.Errorf("point %s of %s (captured %s, committed %s) matches no state of the image in that window",
					p.ID[:12], a.name, p.Time.Format(time.RFC3339Nano), p.Committed.Format(time.RFC3339Nano))
			}
			n++
		}
	}
	t.Logf("%d complete points exported, each byte-exact", n)
	out := s.osr(s.store, "store", "check", "--read-data")
	if !strings.Contains(out, "no problems found") {
		t.Fatalf("store check: %s", out)
	}
}

// balancePhase: A comes back; balance spreads the machines over A and B again.
func (s *scaleSite) balancePhase() {
	t := s.t
	s.psA = start(t, s.dir, "ps-a", nil, osrBin, "process-server", "serve", "--config", filepath.Join(s.cs, "process-server", "process-server.yaml"))
	waitFor(t, 30*time.Second, "A serving again", func() (bool, string) {
		if s.psA.exited() {
			t.Fatalf("A exited:\n%s", tail(s.psA.log, 30))
		}
		return strings.Count(s.psA.logText(), "process server listening") >= 2, "not listening yet"
	})
	var before []*scaleStatus
	for _, a := range s.agents {
		st, err := s.status(a)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, st)
	}
	began := time.Now()
	out := s.osr(nil, "process-server", "balance", "cs2", "psb", "--yes", "--data-dir", s.cs)
	if !strings.Contains(out, "Moved 2 machines") {
		t.Fatalf("balance:\n%s", out)
	}
	var back []*scaleAgent
	for _, m := range s.view().Machines {
		for _, a := range s.agents {
			if a.name == m.Machine && m.ProcessServer == "cs2" {
				back = append(back, a)
			}
		}
	}
	if len(back) != 2 {
		t.Fatalf("%d machines on A after the balance, want 2:\n%s", len(back), out)
	}
	t.Logf("balance: %s and %s replicating through A again %v after the command", back[0].name, back[1].name,
		s.moved(back, s.psAAddr(), began).Round(10*time.Millisecond))
	for i, a := range s.agents {
		s.capture(a)
		s.noResync(a, before[i], 4<<20)
	}
	if out, code := runCode(t, nil, osrBin, "process-server", "balance", "--yes", "--data-dir", s.cs); code != 1 ||
		!strings.Contains(out, "the process servers are balanced: nothing to move") && !strings.Contains(out, "balancing needs two process servers that may take machines, there are 1: nothing to move") {
		t.Errorf("second balance: exit %d\n%s\n%s", code, out, s.osr(nil, "infrastructure", "--data-dir", s.cs, "--json"))
	}
}
