package processserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/storage/backends"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/wire"
)

// logBuf collects log lines for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is a CA, a file store and a process server on loopback.
type env struct {
	t      testing.TB
	dir    string
	ca     *pki.CA
	caDir  string
	repo   *store.Repo
	psID   *pki.Identity
	cfg    Config
	srv    *Server
	addr   string
	cancel context.CancelFunc
	done   chan error
	logs   *logBuf
}

var fastKDF = crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}

func newEnv(t testing.TB, uploadLimit int64, mod func(*Config)) *env {
	return newEnvAt(t, "", uploadLimit, mod)
}

// newEnvAt is newEnv with the vault store in vaultDir ("" for a temporary directory).
func newEnvAt(t testing.TB, vaultDir string, uploadLimit int64, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), logs: &logBuf{}}
	if vaultDir == "" {
		vaultDir = filepath.Join(e.dir, "vault")
	}
	e.caDir = filepath.Join(e.dir, "pki")
	ca, err := pki.InitCA(e.caDir, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.ca = ca
	e.psID = e.identity(pki.RoleProcessServer, "ps1", "127.0.0.1")
	ctx := context.Background()
	be, err := backends.Open(ctx, vaultDir, backends.Options{CreateIfMissing: true, UploadLimit: uploadLimit})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Init(ctx, be, []byte("pw"), store.Options{KDF: fastKDF}); err != nil {
		t.Fatal(err)
	}
	if e.repo, err = store.Open(ctx, be, []byte("pw"), store.Options{}); err != nil {
		t.Fatal(err)
	}
	e.cfg = Config{Listen: "127.0.0.1:0", Cache: CacheConfig{Dir: cacheDir(t)}}
	if mod != nil {
		mod(&e.cfg)
	}
	return e
}

// cacheDir is where a test's cache lives: in memory where the host has /dev/shm, so that the free
// space of the host's disk cannot hold a test back (tests of that mount file systems of their own).
func cacheDir(t testing.TB) string {
	d, err := os.MkdirTemp("/dev/shm", "osr-ps-cache-")
	if err != nil {
		return filepath.Join(t.TempDir(), "cache")
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return filepath.Join(d, "cache")
}

// identity issues a certificate and loads it.
func (e *env) identity(role pki.Role, name string, hosts ...string) *pki.Identity {
	e.t.Helper()
	return issueWith(e.t, e.ca, e.caDir, role, name, hosts...)
}

func issueWith(t testing.TB, ca *pki.CA, caDir string, role pki.Role, name string, hosts ...string) *pki.Identity {
	t.Helper()
	c, k, err := ca.Issue(pki.LeafRequest{Name: name, Role: role, Hosts: hosts, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(caDir, "issued", string(role))
	cf, kf, err := pki.WriteLeaf(out, name, c, k)
	if err != nil {
		t.Fatal(err)
	}
	id, err := pki.LoadIdentity(cf, kf, filepath.Join(caDir, pki.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) start() {
	e.t.Helper()
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := New(e.cfg, Deps{Repo: e.repo, Identity: e.psID, Logger: log})
	if err != nil {
		e.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.srv, e.addr, e.cancel, e.done = srv, ln.Addr().String(), cancel, make(chan error, 1)
	go func() { e.done <- srv.Serve(ctx, ln) }()
	e.t.Cleanup(e.stop)
}

func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Errorf("serve: %v", err)
	}
	e.cancel = nil
}

// client is a test agent speaking the protocol.
type client struct {
	t        testing.TB
	conn     net.Conn
	wc       *wire.Conn
	welcome  wire.Welcome
	machine  string
	statuses []wire.Status
}

func (e *env) dial(id *pki.Identity) (*client, error) {
	return dialWith(e.t, e.addr, id.ClientConfig("127.0.0.1", pki.PeerCheck{Roles: []pki.Role{pki.RoleProcessServer}}))
}

func dialWith(t testing.TB, addr string, tc *tls.Config) (*client, error) {
	conn, err := tls.Dial("tcp", addr, tc)
	if err != nil {
		return nil, err
	}
	c := &client{t: t, conn: conn, wc: wire.NewConn(conn, wire.Options{})}
	if _, err := c.wc.Handshake(); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// hello sends Hello and reads Welcome.
func (c *client) hello(h wire.Hello) error {
	c.machine = h.Machine
	if err := c.wc.Send(h); err != nil {
		return err
	}
	f, err := c.next()
	if err != nil {
		return err
	}
	if f.Type == wire.TypeError {
		var e wire.Error
		e.Decode(f.Payload)
		return &e
	}
	if f.Type != wire.TypeWelcome {
		return fmt.Errorf("got %s, want Welcome", f.Type)
	}
	return c.welcome.Decode(f.Payload)
}

// next reads the next frame, answering Pings and noting Status frames.
func (c *client) next() (wire.Frame, error) {
	for {
		c.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		f, err := c.wc.ReadFrame()
		if err != nil {
			return f, err
		}
		switch f.Type {
		case wire.TypeStatus:
			var s wire.Status
			if err := s.Decode(f.Payload); err != nil {
				return f, err
			}
			c.statuses = append(c.statuses, s)
			continue
		case wire.TypePing:
			var p wire.Ping
			p.Decode(f.Payload)
			c.wc.Send(wire.Pong(p))
			continue
		}
		return f, nil
	}
}

// expect reads frames until one of type t (Committed frames for other seqs are skipped).
func (c *client) expect(t wire.Type) wire.Decoder {
	c.t.Helper()
	f, err := c.next()
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", t, err)
	}
	m, err := wire.Decode(f)
	if err != nil {
		c.t.Fatal(err)
	}
	if f.Type != t {
		c.t.Fatalf("got %s %+v, want %s", f.Type, m, t)
	}
	return m
}

// disk is the test's model of a disk: its bytes at the newest point sent.
type disk struct {
	name string
	data []byte
}

func newDisk(name string, size int, seed uint64) *disk {
	d := &disk{name: name, data: make([]byte, size)}
	r := rand.New(rand.NewPCG(seed, 1))
	for i := 0; i < size; i += 8 {
		v := r.Uint64()
		for k := 0; k < 8 && i+k < size; k++ {
			d.data[i+k] = byte(v >> (8 * k))
		}
	}
	return d
}

func (d *disk) size() int64 { return int64(len(d.data)) }

func (d *disk) blocks() uint64 { return uint64((len(d.data) + wire.BlockSize - 1) / wire.BlockSize) }

// change is a run of blocks of a disk to send, or to zero.
type change struct {
	disk     *disk
	first, n uint64
	zero     bool
}

// sendPoint sends one point made of changes (whose data is taken from the disks' models).
func (c *client) sendPoint(seq, base uint64, kind wire.Kind, disks []*disk, changes []change, initial map[string]int64) error {
	bp := wire.BeginPoint{Seq: seq, Base: base, Kind: kind, Time: time.Now().UTC().Truncate(time.Second)}
	for _, d := range disks {
		bp.Disks = append(bp.Disks, wire.Disk{Name: d.name, Size: d.size()})
	}
	if err := c.wc.Queue(bp); err != nil {
		return err
	}
	var nb, nz uint64
	buf := make([]byte, wire.MaxBlocksPerFrame*wire.BlockSize)
	for _, ch := range changes {
		if ch.zero {
			if err := c.wc.Queue(wire.Zero{Seq: seq, Disk: ch.disk.name, First: ch.first, Count: ch.n}); err != nil {
				return err
			}
			nz += ch.n
			continue
		}
		for b := ch.first; b < ch.first+ch.n; {
			n := min(ch.first+ch.n-b, wire.MaxBlocksPerFrame)
			m := wire.Blocks{Seq: seq, Disk: ch.disk.name, First: b, Data: buf[:n*wire.BlockSize]}
			clear(m.Data)
			copy(m.Data, ch.disk.data[min(int(b)*wire.BlockSize, len(ch.disk.data)):min(int(b+n)*wire.BlockSize, len(ch.disk.data))])
			m.SetFingerprints()
			if err := c.wc.Queue(&m); err != nil {
				return err
			}
			nb += n
			b += n
		}
	}
	return c.wc.Send(wire.EndPoint{Seq: seq, Blocks: nb, Zeroed: nz, Initial: initial})
}

// exportDisk reads a disk of a store point.
func exportDisk(t testing.TB, repo *store.Repo, pointID, name string) []byte {
	t.Helper()
	ctx := context.Background()
	pt, err := repo.LoadPoint(ctx, pointID)
	if err != nil {
		t.Fatal(err)
	}
	dr, err := repo.OpenDisk(pt, name)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, dr.Size())
	if _, err := dr.ReadAt(b, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return b
}

// cacheFiles lists what the cache holds.
func cacheFiles(t testing.TB, dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			out = append(out, strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	})
	return out
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
