package processserver

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"testing"

	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/wire"
)

// TestMachineComesBack: a machine replicates on A, moves to B (same store), and comes back to A,
// which must welcome it with B's newest commit, not its own older one, and build on it.
func TestMachineComesBack(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.start()
	// B: a second process server on the same store.
	b, err := New(Config{Listen: "127.0.0.1:0", Cache: CacheConfig{Dir: cacheDir(t)}, Name: "ps2"},
		Deps{Repo: e.repo, Identity: e.identity(pki.RoleProcessServer, "ps2", "127.0.0.1"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	agent := e.identity(pki.RoleAgent, "web01")
	tc := agent.ClientConfig("127.0.0.1", pki.PeerCheck{Roles: []pki.Role{pki.RoleProcessServer}})
	sda := newDisk("sda", 1<<20, 4)
	hello := func(addr string, seq uint64, point string) *client {
		c, err := dialWith(t, addr, tc)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.hello(wire.Hello{Machine: "web01", Disks: []wire.Disk{{Name: "sda", Size: sda.size()}}, CommittedSeq: seq, CommittedPoint: point}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	point := func(c *client, seq, base uint64, first uint64) *wire.Committed {
		copy(sda.data[first*4096:], bytes.Repeat([]byte{byte(seq)}, 4096))
		n := uint64(1)
		if base == 0 {
			first, n = 0, sda.blocks()
		}
		if err := c.sendPoint(seq, base, wire.KindCrash, []*disk{sda}, []change{{disk: sda, first: first, n: n}}, nil); err != nil {
			t.Fatal(err)
		}
		c.expect(wire.TypeDurable)
		return c.expect(wire.TypeCommitted).(*wire.Committed)
	}
	a1 := hello(e.addr, 0, "")
	p1 := point(a1, 1, 0, 0)
	a1.conn.Close()
	b1 := hello(ln.Addr().String(), 1, p1.Point)
	if b1.welcome.CommittedSeq != 1 {
		t.Fatalf("B's welcome %+v", b1.welcome)
	}
	p2 := point(b1, 2, 1, 10)
	b1.conn.Close()
	// Back on A, which committed only seq 1 itself.
	a2 := hello(e.addr, 2, p2.Point)
	if a2.welcome.CommittedSeq != 2 || a2.welcome.CommittedPoint != p2.Point || a2.welcome.Durable != 2 {
		t.Fatalf("A's welcome after B's commit: %+v, want seq 2 point %s", a2.welcome, p2.Point)
	}
	p3 := point(a2, 3, 2, 20)
	pt, err := e.repo.LoadPoint(context.Background(), p3.Point)
	if err != nil || pt.Parent != p2.Point {
		t.Fatalf("seq 3 %+v %v, want parent %s", pt, err, p2.Point)
	}
	if !bytes.Equal(exportDisk(t, e.repo, p3.Point, "sda"), sda.data) {
		t.Fatal("seq 3 does not export as the disk")
	}
	a2.conn.Close()
}
