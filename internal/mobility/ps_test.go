package mobility

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/mobility/state"
	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/processserver"
	"github.com/opensiterecovery/osr/internal/storage/file"
	"github.com/opensiterecovery/osr/internal/store"
	"golang.org/x/sys/unix"
)

// realPS is the real process server in-process on 127.0.0.1 with a file:// store, and the
// agent's certificate files issued by a test CA.
type realPS struct {
	t      *testing.T
	dir    string
	repo   *store.Repo
	addr   string
	cancel context.CancelFunc
	done   chan error
	tls    TLSConfig
}

func startPS(t *testing.T, dir string) *realPS { return startPSAt(t, dir, "127.0.0.1:0") }

// startPSAt starts it listening on addr (to come back on the same port after a restart).
func startPSAt(t *testing.T, dir, addr string) *realPS {
	t.Helper()
	ps := &realPS{t: t, dir: dir}
	now := time.Now()
	caDir := filepath.Join(dir, "ca")
	ca, err := pki.LoadCA(caDir)
	if err != nil {
		if ca, err = pki.InitCA(caDir, "test CA", now); err != nil {
			t.Fatal(err)
		}
		for _, l := range []struct {
			name string
			role pki.Role
		}{{"ps1", pki.RoleProcessServer}, {"web01", pki.RoleAgent}} {
			c, k, err := ca.Issue(pki.LeafRequest{Name: l.name, Role: l.role, Hosts: []string{"127.0.0.1"}, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := pki.WriteLeaf(filepath.Join(dir, "certs"), l.name, c, k); err != nil {
				t.Fatal(err)
			}
		}
	}
	certs := filepath.Join(dir, "certs")
	ca1 := filepath.Join(caDir, pki.CACertFile)
	ps.tls = TLSConfig{CA: ca1, Cert: filepath.Join(certs, "web01.crt"), Key: filepath.Join(certs, "web01.key")}
	id, err := pki.LoadIdentity(filepath.Join(certs, "ps1.crt"), filepath.Join(certs, "ps1.key"), ca1)
	if err != nil {
		t.Fatal(err)
	}
	be, err := file.Open(filepath.Join(dir, "vault"), file.Options{CreateIfMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := store.Options{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}, PackSize: 1 << 20}
	repo, err := store.Open(context.Background(), be, []byte("secret"), opts)
	if err != nil {
		if repo, err = store.Init(context.Background(), be, []byte("secret"), opts); err != nil {
			t.Fatal(err)
		}
	}
	ps.repo = repo
	srv, err := processserver.New(processserver.Config{Listen: "127.0.0.1:0", Cache: processserver.CacheConfig{Dir: filepath.Join(dir, "cache")}},
		processserver.Deps{Repo: repo, Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ { // the port of a stopped server may take a moment to be free
		if ln, err = net.Listen("tcp", addr); err == nil || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ps.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	ps.cancel, ps.done = cancel, make(chan error, 1)
	go func() { ps.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(ps.stop)
	return ps
}

func (ps *realPS) stop() {
	if ps.cancel == nil {
		return
	}
	ps.cancel()
	if err := <-ps.done; err != nil {
		ps.t.Errorf("process server: %v", err)
	}
	ps.cancel = nil
}

// config returns an agent configuration for the process server, with TLS.
func (ps *realPS) config(t *testing.T, disks ...Disk) *Config {
	cfg := testConfig(t, ps.dir, disks...)
	cfg.ProcessServer = ps.addr
	cfg.TLS = ps.tls
	return cfg
}

// points returns the machine's store points, oldest first, by seq.
func (ps *realPS) points(t *testing.T) map[uint64]*store.Point {
	pts, err := ps.repo.Points(context.Background(), "web01")
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]*store.Point{}
	for _, p := range pts {
		seq, _ := strconv.ParseUint(p.Labels["osr.seq"], 10, 64)
		out[seq] = p
	}
	return out
}

// export writes disk of point seq to a file and returns its content.
func (ps *realPS) export(t *testing.T, seq uint64, disk string) []byte {
	t.Helper()
	pt := ps.points(t)[seq]
	if pt == nil {
		t.Fatalf("no store point for seq %d", seq)
	}
	dr, err := ps.repo.OpenDisk(pt, disk)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "export.img")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := dr.Export(context.Background(), f, store.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	return b
}

// The whole pipeline with the real process server: initial replication in partial points, the
// export byte-exact, then 1% of the blocks changed and the next point holds exactly them.
func TestPSInitialAndIncremental(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	const size = 16 << 20
	testImage(t, img, size, 11)
	ps := startPS(t, dir)
	cfg := ps.config(t, Disk{Name: "sda", Path: img})
	r := startAgent(t, cfg, Options{})
	waitFor(t, "initial replication", 60*time.Second, func() bool { return r.a.initialDone() })
	st := r.a.Status()
	pts := ps.points(t)
	partial := 0
	for _, p := range pts {
		if p.Partial {
			partial++
			if p.Labels["osr.initial.sda"] == "" {
				t.Fatalf("partial point %s without its cursor label: %v", p.ID, p.Labels)
			}
		}
	}
	if partial < 2 || pts[st.CommittedSeq] == nil || pts[st.CommittedSeq].Partial {
		t.Fatalf("%d partial points, newest seq %d: %+v", partial, st.CommittedSeq, pts[st.CommittedSeq])
	}
	want, _ := os.ReadFile(img)
	if got := ps.export(t, st.CommittedSeq, "sda"); !bytes.Equal(got, want) {
		t.Fatal("export of the first complete point differs from the image")
	}
	changed := mutate(t, img, size/4096/100, 12)
	r.a.Trigger()
	waitFor(t, "the incremental point", 60*time.Second, func() bool { return r.a.Status().CommittedSeq > st.CommittedSeq })
	seq := st.CommittedSeq + 1
	p := ps.points(t)[seq]
	if p == nil || p.Stats.BlocksWritten != int64(changed) {
		t.Fatalf("point %d: %+v, want %d blocks written", seq, p, changed)
	}
	want, _ = os.ReadFile(img)
	if got := ps.export(t, seq, "sda"); !bytes.Equal(got, want) {
		t.Fatal("export of the incremental point differs from the image")
	}
	v, err := RequestVerify(context.Background(), cfg.StateDir)
	if err != nil || v.MapDivergent != 0 || v.SourceDiffers != 0 {
		t.Fatalf("verify: %+v %v", v, err)
	}
}

// Interrupted initial replication resumes from the newest committed partial point after the
// agent and the process server restart.
func TestPSInitialResumes(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	const size = 24 << 20
	testImage(t, img, size, 13)
	ps := startPS(t, dir)
	cfg := ps.config(t, Disk{Name: "sda", Path: img})
	cfg.Bandwidth = Bandwidth{Default: 8 << 20}
	cfg.Bandwidth.check()
	r := startAgent(t, cfg, Options{})
	waitFor(t, "two partial points", 60*time.Second, func() bool { return r.a.Status().CommittedSeq >= 2 })
	r.stop()
	ps.stop()
	before := r.a.Status().SentBytes
	ps = startPS(t, dir)
	cfg = ps.config(t, Disk{Name: "sda", Path: img})
	r = startAgent(t, cfg, Options{})
	waitFor(t, "initial replication", 60*time.Second, func() bool { return r.a.initialDone() })
	after := r.a.Status().SentBytes
	var data int64
	d, _ := openSource("sda", img)
	d.Ranges(func(off, n int64, isData bool) error {
		if isData {
			data += n
		}
		return nil
	})
	d.Close()
	if after >= data-4<<20 || before < 8<<20 {
		t.Fatalf("sent %d bytes before the restart and %d after, of %d", before, after, data)
	}
	want, _ := os.ReadFile(img)
	if got := ps.export(t, r.a.Status().CommittedSeq, "sda"); !bytes.Equal(got, want) {
		t.Fatal("export after the resumed initial replication differs")
	}
}

// Committed-before-clear with the real process server: the connection is cut right after
// Durable, before Committed; the agent reconnects, learns the commit, and the export is exact.
func TestPSDurableThenCut(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	const size = 8 << 20
	testImage(t, img, size, 14)
	ps := startPS(t, dir)
	cfg := ps.config(t, Disk{Name: "sda", Path: img})
	dial, err := tlsDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conn net.Conn
	cut := 0
	opts := Options{Dial: func(ctx context.Context) (net.Conn, error) {
		c, err := dial(ctx)
		mu.Lock()
		conn = c
		mu.Unlock()
		return c, err
	}}
	var cutSeq string
	opts.Observe = func(ev Event) {
		if ev.Kind == "durable" && cut < 2 {
			cut++
			cutSeq = ev.Attrs["seq"]
			mu.Lock()
			conn.Close()
			mu.Unlock()
		}
	}
	r := startAgent(t, cfg, opts)
	waitFor(t, "initial replication", 60*time.Second, func() bool { return r.a.initialDone() })
	changed := mutate(t, img, 20, 15)
	c0 := r.a.Status().CommittedSeq
	r.a.Trigger()
	waitFor(t, "the next point", 60*time.Second, func() bool { return r.a.Status().CommittedSeq > c0 })
	if cut != 2 || r.has("resync") != nil {
		t.Fatalf("cuts %d (last after seq %s), resync %+v", cut, cutSeq, r.has("resync"))
	}
	seq := r.a.Status().CommittedSeq
	if p := ps.points(t)[seq]; p.Stats.BlocksWritten != int64(changed) {
		t.Fatalf("point %d wrote %d blocks, want %d", seq, p.Stats.BlocksWritten, changed)
	}
	want, _ := os.ReadFile(img)
	if got := ps.export(t, seq, "sda"); !bytes.Equal(got, want) {
		t.Fatal("export differs")
	}
}

// After an unclean stop the agent resynchronises against the real replica and sends exactly the
// blocks that differ.
func TestPSResyncAfterUncleanStop(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	const size = 8 << 20
	testImage(t, img, size, 16)
	ps := startPS(t, dir)
	cfg := ps.config(t, Disk{Name: "sda", Path: img})
	r := startAgent(t, cfg, Options{})
	waitFor(t, "initial replication", 60*time.Second, func() bool { return r.a.initialDone() })
	r.stop()
	as, _ := state.LoadAgent(cfg.StateDir)
	as.Running = true
	state.SaveAgent(cfg.StateDir, as)
	changed := mutate(t, img, 17, 17)
	c0 := as.CommittedSeq
	r = startAgent(t, cfg, Options{})
	waitFor(t, "the resync point", 60*time.Second, func() bool { return r.has("resync-complete") != nil })
	ev := r.has("resync-complete")
	if ev.Attrs["differing_blocks"] != strconv.Itoa(changed) || ev.Attrs["reason"] != "the previous run stopped uncleanly" {
		t.Fatalf("resync event %+v", ev)
	}
	seq, _ := strconv.ParseUint(ev.Attrs["seq"], 10, 64)
	waitFor(t, "its commit", 60*time.Second, func() bool { return r.a.Status().CommittedSeq >= seq })
	if p := ps.points(t)[seq]; seq != c0+1 || p.Stats.BlocksWritten != int64(changed) {
		t.Fatalf("resync point %d wrote %d blocks, want %d", seq, p.Stats.BlocksWritten, changed)
	}
	want, _ := os.ReadFile(img)
	if got := ps.export(t, seq, "sda"); !bytes.Equal(got, want) {
		t.Fatal("export after the resync differs")
	}
}

// Two disks in one point; blocks rewritten with zeros and a punched hole reach the replica as
// Zero ranges, and both exports stay exact.
func TestPSTwoDisksAndZeros(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "sda.img"), filepath.Join(dir, "sdb.img")
	testImage(t, a, 8<<20, 21)
	testImage(t, b, 6<<20+8192, 22)
	ps := startPS(t, dir)
	cfg := ps.config(t, Disk{Name: "sda", Path: a}, Disk{Name: "sdb", Path: b})
	r := startAgent(t, cfg, Options{})
	waitFor(t, "initial replication", 60*time.Second, func() bool { return r.a.initialDone() })
	// Zeros written over data on sda, a hole punched into sdb's data.
	f, _ := os.OpenFile(a, os.O_RDWR, 0)
	zeroRun := func() int64 {
		want, _ := os.ReadFile(a)
		for blk := int64(0); blk < 8<<20/4096; blk++ {
			if !bytes.Equal(want[blk*4096:(blk+1)*4096], make([]byte, 4096)) {
				f.WriteAt(make([]byte, 3*4096), blk*4096)
				return blk
			}
		}
		return -1
	}
	if zeroRun() < 0 {
		t.Fatal("no data on sda")
	}
	f.Close()
	g, _ := os.OpenFile(b, os.O_RDWR, 0)
	wantB, _ := os.ReadFile(b)
	var punched int64 = -1
	for off := int64(0); off < int64(len(wantB)); off += 1 << 20 {
		if wantB[off+4096] != 0 {
			punched = off
			break
		}
	}
	if punched < 0 {
		t.Fatal("no data on sdb")
	}
	if err := unix.Fallocate(int(g.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, punched, 1<<20); err != nil {
		t.Fatal(err)
	}
	g.Close()
	c0 := r.a.Status().CommittedSeq
	r.a.Trigger()
	waitFor(t, "the next point", 60*time.Second, func() bool { return r.a.Status().CommittedSeq > c0 })
	sent := r.last("point-sent")
	if sent.Attrs["blocks"] != "0" || sent.Attrs["zeroed"] == "0" {
		t.Fatalf("point with zeros: %+v", sent)
	}
	seq := r.a.Status().CommittedSeq
	pts := ps.points(t)
	if len(pts[seq].Disks) != 2 {
		t.Fatalf("point %d has disks %+v", seq, pts[seq].Disks)
	}
	for _, d := range []struct{ name, path string }{{"sda", a}, {"sdb", b}} {
		want, _ := os.ReadFile(d.path)
		if got := ps.export(t, seq, d.name); !bytes.Equal(got, want) {
			t.Fatalf("export of %s differs", d.name)
		}
	}
}

// The process server restarts during initial replication: the agent reconnects by itself, drops
// what the server did not keep, and continues from the newest committed partial point.
func TestPSRestartDuringInitial(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	const size = 24 << 20
	testImage(t, img, size, 61)
	ps := startPS(t, dir)
	cfg := ps.config(t, Disk{Name: "sda", Path: img})
	cfg.Bandwidth = Bandwidth{Default: 6 << 20}
	cfg.Bandwidth.check()
	r := startAgent(t, cfg, Options{})
	waitFor(t, "the first partial point", 60*time.Second, func() bool { return r.a.Status().CommittedSeq >= 1 })
	ps.stop()
	waitFor(t, "the agent to notice", 20*time.Second, func() bool { return r.has("disconnected") != nil })
	ps = startPSAt(t, dir, ps.addr)
	waitFor(t, "initial replication", 60*time.Second, func() bool { return r.a.initialDone() })
	var data int64
	d, _ := openSource("sda", img)
	d.Ranges(func(off, n int64, isData bool) error {
		if isData {
			data += n
		}
		return nil
	})
	d.Close()
	// At most the points in flight at the restart are sent twice.
	if sent := r.a.Status().SentBytes; sent > data+2*int64(cfg.InitialPointSize) {
		t.Fatalf("sent %d bytes for %d bytes of data", sent, data)
	}
	if c := r.has("connected"); c == nil || r.last("connected") == c {
		t.Fatal("the agent did not reconnect")
	}
	// Every committed partial point got further than the one before: nothing started over.
	pts := ps.points(t)
	prev := int64(-1)
	for seq := uint64(1); seq <= r.a.Status().CommittedSeq; seq++ {
		p := pts[seq]
		if p == nil || !p.Partial {
			continue
		}
		cur, _ := strconv.ParseInt(p.Labels["osr.initial.sda"], 10, 64)
		if cur <= prev {
			t.Fatalf("partial point %d is at %d, after %d", seq, cur, prev)
		}
		prev = cur
	}
	want, _ := os.ReadFile(img)
	if got := ps.export(t, r.a.Status().CommittedSeq, "sda"); !bytes.Equal(got, want) {
		t.Fatal("export after the process server restart differs")
	}
}
