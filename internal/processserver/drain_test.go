package processserver

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/wire"
)

// Drain returns once the points acknowledged Durable before it are committed: the point it
// returns holds their blocks; health shows the durable and committed seqs and the point ID.
func TestDrain(t *testing.T) {
	e := newEnv(t, 512<<10, nil) // uploads at 512 KiB/s: the point is durable well before it is committed
	e.start()
	c, err := e.dial(e.identity(pki.RoleAgent, "web01"))
	if err != nil {
		t.Fatal(err)
	}
	d := newDisk("sda", 2<<20, 7)
	if err := c.hello(wire.Hello{Machine: "web01", Disks: []wire.Disk{{Name: "sda", Size: d.size()}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.sendPoint(1, 0, wire.KindCrash, []*disk{d}, []change{{disk: d, first: 0, n: d.blocks()}}, nil); err != nil {
		t.Fatal(err)
	}
	c.expect(wire.TypeDurable)
	h := drainState(e.srv, "web01")
	if h != (DrainState{Machine: "web01", DurableSeq: 1, CachedPoints: 1}) {
		t.Fatalf("health before the commit: %+v", h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := e.srv.Drain(ctx, "web01")
	if err != nil {
		t.Fatal(err)
	}
	if res.ReceivedSeq != 1 || res.Seq != 1 || res.Point == "" {
		t.Fatalf("drain %+v", res)
	}
	if got := exportDisk(t, e.repo, res.Point, "sda"); !bytes.Equal(got, d.data) {
		t.Fatal("the drained point does not hold the acknowledged blocks")
	}
	if h := drainState(e.srv, "web01"); h != (DrainState{Machine: "web01", DurableSeq: 1, CommittedSeq: 1, CommittedPoint: res.Point}) {
		t.Fatalf("health after the commit: %+v", h)
	}
	// Nothing pending: at once.
	if res2, err := e.srv.Drain(ctx, "web01"); err != nil || res2 != res {
		t.Fatalf("second drain %+v %v", res2, err)
	}
	// A machine never seen: nothing committed, at once.
	if res3, err := e.srv.Drain(ctx, "db01"); err != nil || res3 != (DrainResult{Machine: "db01"}) {
		t.Fatalf("drain of an unknown machine %+v %v", res3, err)
	}
}

func drainState(s *Server, machine string) DrainState {
	for _, m := range s.Health().Drain {
		if m.Machine == machine {
			return m
		}
	}
	return DrainState{}
}
