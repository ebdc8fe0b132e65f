package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/wire"
)

// psProc is a process server run from the built binary.
type psProc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startPS(t *testing.T, env []string, config string) *psProc {
	t.Helper()
	cmd := exec.Command(osrBin, "process-server", "serve", "--config", config, "--log-level", "debug")
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &psProc{cmd: cmd, stderr: &lockedBuffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening on ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("process server did not start: %q %v\n%s", line, err, p.stderr)
	}
	return p
}

// agentConn is a minimal agent: TLS, handshake, Hello.
func agentConn(t *testing.T, addr string, id *pki.Identity, machine string, size int64) (*wire.Conn, wire.Welcome) {
	t.Helper()
	tc, err := tls.Dial("tcp", addr, id.ClientConfig("127.0.0.1", pki.PeerCheck{Roles: []pki.Role{pki.RoleProcessServer}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	wc := wire.NewConn(tc, wire.Options{})
	if _, err := wc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := wc.Send(wire.Hello{Machine: machine, Disks: []wire.Disk{{Name: "sda", Size: size}}}); err != nil {
		t.Fatal(err)
	}
	var w wire.Welcome
	f, err := wc.ReadFrame()
	if err != nil || f.Type != wire.TypeWelcome || w.Decode(f.Payload) != nil {
		t.Fatalf("welcome: %v %v", f.Type, err)
	}
	return wc, w
}

func sendBlocks(t *testing.T, wc *wire.Conn, seq uint64, data []byte) uint64 {
	t.Helper()
	var n uint64
	for off := 0; off < len(data); off += wire.MaxBlocksPerFrame * wire.BlockSize {
		end := min(len(data), off+wire.MaxBlocksPerFrame*wire.BlockSize)
		m := wire.Blocks{Seq: seq, Disk: "sda", First: uint64(off / wire.BlockSize), Data: data[off:end]}
		m.SetFingerprints()
		if err := wc.Queue(&m); err != nil {
			t.Fatal(err)
		}
		n += uint64(m.N())
	}
	return n
}

func readUntil(t *testing.T, wc *wire.Conn, typ wire.Type) wire.Decoder {
	t.Helper()
	for {
		f, err := wc.ReadFrame()
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		m, err := wire.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type == typ {
			return m
		}
		if f.Type != wire.TypeStatus && f.Type != wire.TypeDurable && f.Type != wire.TypeCommitted {
			t.Fatalf("unexpected %s %+v", f.Type, m)
		}
	}
}

// TestProcessServerKilled: a point that was Durable when the process server was killed (-9) is
// committed by the next start; a point that had not ended is dropped.
func TestProcessServerKilled(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "vault")
	c := newCLI(t, repo)
	c.ok("store", "init")
	pkiDir := filepath.Join(dir, "pki")
	c.ok("pki", "init", "--dir", pkiDir)
	c.ok("pki", "issue", "--dir", pkiDir, "--name", "ps1", "--role", "process-server", "--host", "127.0.0.1")
	c.ok("pki", "issue", "--dir", pkiDir, "--name", "web01", "--role", "agent", "--out-dir", filepath.Join(dir, "agent"))
	agent, err := pki.LoadIdentity(filepath.Join(dir, "agent", "web01.crt"), filepath.Join(dir, "agent", "web01.key"), filepath.Join(pkiDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "pw"), []byte("correct horse\n"), 0o600)
	addr := "127.0.0.1:" + port(t)
	config := filepath.Join(dir, "ps.yaml")
	writeConfig := func(limit int) {
		os.WriteFile(config, []byte(fmt.Sprintf(`listen: %q
tls: {ca: pki/ca.crt, cert: pki/ps1.crt, key: pki/ps1.key}
cache: {dir: cache, max_bytes: 4294967296}
store: {repo: %q, password_file: pw, upload_limit: %d}
`, addr, repo, limit)), 0o600)
	}
	writeConfig(64 << 10) // 64 KiB/s: the point cannot be committed before the kill
	ps := startPS(t, c.env, config)

	const size = 2 << 20
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	wc, w := agentConn(t, addr, agent, "web01", size)
	if w.Durable != 0 {
		t.Fatalf("welcome %+v", w)
	}
	wc.Queue(wire.BeginPoint{Seq: 1, Kind: wire.KindCrash, Time: time.Now().UTC(), Disks: []wire.Disk{{Name: "sda", Size: size}}})
	n := sendBlocks(t, wc, 1, data)
	wc.Send(wire.EndPoint{Seq: 1, Blocks: n})
	if d := readUntil(t, wc, wire.TypeDurable).(*wire.Durable); d.Seq != 1 {
		t.Fatalf("durable %d", d.Seq)
	}
	// Seq 2 begins but never ends.
	wc.Queue(wire.BeginPoint{Seq: 2, Base: 1, Kind: wire.KindCrash, Time: time.Now().UTC(), Disks: []wire.Disk{{Name: "sda", Size: size}}})
	sendBlocks(t, wc, 2, data[:1<<20])
	wc.Flush()
	part := filepath.Join(dir, "cache", "machines", "web01", "2.part")
	deadline := time.Now().Add(30 * time.Second)
	for fi, err := os.Stat(part); err != nil || fi.Size() < 1<<20; fi, err = os.Stat(part) {
		if time.Now().After(deadline) {
			t.Fatalf("seq 2 never reached the cache: %v\n%s", err, ps.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ps.cmd.Process.Signal(syscall.SIGKILL)
	ps.cmd.Wait()
	if ls := c.ok("store", "ls", "--machine", "web01"); strings.Contains(ls, "web01") {
		t.Fatalf("committed before the kill; the test needs slower storage:\n%s", ls)
	}
	if _, err := os.Stat(filepath.Join(dir, "cache", "machines", "web01", "1.point")); err != nil {
		t.Fatalf("durable point not in the cache: %v", err)
	}

	writeConfig(0)
	ps = startPS(t, c.env, config)
	wc, w = agentConn(t, addr, agent, "web01", size)
	if w.Durable != 1 {
		t.Fatalf("welcome after restart %+v", w)
	}
	cm := readUntil(t, wc, wire.TypeCommitted).(*wire.Committed)
	if cm.Seq != 1 {
		t.Fatalf("committed %+v", cm)
	}
	out := filepath.Join(dir, "sda.raw")
	c.ok("store", "export", "--point", cm.Point, "--machine", "web01", "--disk", "sda", "--out", out)
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("exported disk differs (%d bytes, %v)", len(got), err)
	}
	if _, err := os.Stat(part); !os.IsNotExist(err) {
		t.Fatalf("incomplete point still cached: %v", err)
	}
	if !strings.Contains(ps.stderr.String(), "dropping incomplete cached point") {
		t.Fatalf("no log of the dropped point:\n%s", ps.stderr)
	}
}

func tlsDial(addr string, id *pki.Identity) (*tls.Conn, error) {
	return tls.Dial("tcp", addr, id.ClientConfig("127.0.0.1", pki.PeerCheck{Roles: []pki.Role{pki.RoleProcessServer}}))
}

func TestPipelineCLIErrors(t *testing.T) {
	dir := t.TempDir()
	c := newCLI(t, filepath.Join(dir, "vault"))
	c.ok("pki", "init", "--dir", dir)
	cfg := filepath.Join(dir, "ps.yaml")
	os.WriteFile(cfg, []byte("listen: ':443'\ncache: {dir: cache}\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pki", "init", "--dir", dir}, "osr: " + filepath.Join(dir, "ca.crt") + " already exists: refusing to replace a CA\n"},
		{[]string{"pki", "issue", "--dir", dir, "--name", "x", "--role", "admin"}, "osr: unknown role \"admin\" (want agent, process-server, config-server or vault)\n"},
		{[]string{"pki", "issue", "--dir", dir, "--name", "a/b", "--role", "agent"}, "osr: name \"a/b\" has a character outside [A-Za-z0-9._:@-]\n"},
		{[]string{"process-server", "serve", "--config", cfg}, "osr: " + cfg + ": listen :443: port 443 is not for the data path (use 9443)\n"},
	} {
		_, stderr, code := c.run(tc.args...)
		if code != 1 || stderr != tc.want {
			t.Errorf("osr %v: exit %d, stderr %q; want %q", tc.args, code, stderr, tc.want)
		}
	}
}
