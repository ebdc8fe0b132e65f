//go:build linux

package mobility

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/mobility/state"
	"golang.org/x/sys/unix"
)

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

// A clean stop and start need no resync: the next point carries exactly what changed meanwhile.
// The running service answers status and verify on its socket.
func TestPSCleanRestart(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	const size = 8 << 20
	testImage(t, img, size, 81)
	ps := startPS(t, dir)
	cfg := ps.config(t, Disk{Name: "sda", Path: img})
	r := startAgent(t, cfg, Options{})
	waitFor(t, "initial replication", 60*time.Second, func() bool { return r.a.initialDone() })
	st := r.a.Status()
	qs, err := QueryStatus(context.Background(), cfg.StateDir)
	if err != nil || qs.CommittedSeq != st.CommittedSeq || qs.State != StateProtected || qs.TrackingPerGiB != 4<<20 || len(qs.Disks) != 1 {
		t.Fatalf("status over the socket: %+v %v", qs, err)
	}
	r.stop()
	as, err := state.LoadAgent(cfg.StateDir)
	if err != nil || as.Running || as.CommittedSeq != st.CommittedSeq || !as.InitialDone {
		t.Fatalf("state after a clean stop: %+v %v", as, err)
	}
	changed := mutate(t, img, 7, 82)
	r = startAgent(t, cfg, Options{})
	waitFor(t, "the point after the restart", 60*time.Second, func() bool { return r.a.Status().CommittedSeq > st.CommittedSeq })
	if p := ps.points(t)[st.CommittedSeq+1]; p.Stats.BlocksWritten != int64(changed) || r.has("resync") != nil {
		t.Fatalf("after a clean restart: %d blocks written (want %d), resync %+v", p.Stats.BlocksWritten, changed, r.has("resync"))
	}
}

// A replica that lost everything (a new process server and vault) gets a new initial replication
// in partial points.
func TestPSReplicaLost(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	const size = 16 << 20
	testImage(t, img, size, 41)
	ps := startPS(t, filepath.Join(dir, "site1"))
	cfg := ps.config(t, Disk{Name: "sda", Path: img})
	r := startAgent(t, cfg, Options{})
	waitFor(t, "initial replication", 60*time.Second, func() bool { return r.a.initialDone() })
	old := r.a.Status().CommittedSeq
	r.stop()
	ps.stop()
	ps = startPS(t, filepath.Join(dir, "site2"))
	cfg2 := ps.config(t, Disk{Name: "sda", Path: img})
	cfg2.StateDir = cfg.StateDir
	r = startAgent(t, cfg2, Options{})
	waitFor(t, "the resync", 60*time.Second, func() bool { return r.has("resync") != nil })
	waitFor(t, "the new initial replication", 60*time.Second, func() bool {
		c := r.last("committed")
		return r.a.initialDone() && c != nil && c.Attrs["kind"] != "partial"
	})
	want := fmt.Sprintf("the replica map is for seq %d, the process server's newest committed point is seq 0", old)
	if ev := r.has("resync"); ev.Attrs["reason"] != want {
		t.Fatalf("resync event %+v", ev)
	}
	partial := 0
	for _, p := range ps.points(t) {
		if p.Partial {
			partial++
		}
	}
	if partial < 2 {
		t.Fatalf("%d partial points in the new vault", partial)
	}
	got := ps.export(t, r.a.Status().CommittedSeq, "sda")
	if w, _ := os.ReadFile(img); !bytes.Equal(got, w) {
		t.Fatal("new replica differs")
	}
}
