package processserver

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/wire"
)

// A large point uploads while it arrives: block data reaches the store writer before EndPoint.
func TestLargePointUploadsWhileArriving(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.start()
	sda := newDisk("sda", 40<<20, 21)
	c, err := e.dial(e.identity(pki.RoleAgent, "web01"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.hello(wire.Hello{Machine: "web01", Disks: []wire.Disk{{Name: "sda", Size: sda.size()}}}); err != nil {
		t.Fatal(err)
	}
	bp := wire.BeginPoint{Seq: 1, Kind: wire.KindCrash, Disks: []wire.Disk{{Name: "sda", Size: sda.size()}}}
	if err := c.wc.Queue(bp); err != nil {
		t.Fatal(err)
	}
	for b := uint64(0); b < sda.blocks(); b += wire.MaxBlocksPerFrame {
		m := wire.Blocks{Seq: 1, Disk: "sda", First: b, Data: sda.data[b*wire.BlockSize : (b+wire.MaxBlocksPerFrame)*wire.BlockSize]}
		m.SetFingerprints()
		if err := c.wc.Queue(&m); err != nil {
			t.Fatal(err)
		}
	}
	c.wc.Flush()
	m, _ := e.srv.machine(e.srv.ctx, "web01")
	waitFor(t, "upload before EndPoint", func() bool { return m.bytesUp.Load() >= 32<<20 })
	if err := c.wc.Send(wire.EndPoint{Seq: 1, Blocks: sda.blocks()}); err != nil {
		t.Fatal(err)
	}
	c.expect(wire.TypeDurable)
	cm := c.expect(wire.TypeCommitted).(*wire.Committed)
	if !bytes.Equal(exportDisk(t, e.repo, cm.Point, "sda"), sda.data) {
		t.Fatal("point differs")
	}
}

// EndPoint's capture_time, when set, is the store point's time; otherwise BeginPoint's time is.
func TestCaptureTime(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.start()
	c, err := e.dial(e.identity(pki.RoleAgent, "web01"))
	if err != nil {
		t.Fatal(err)
	}
	disks := []wire.Disk{{Name: "sda", Size: 1 << 20}}
	if err := c.hello(wire.Hello{Machine: "web01", Disks: disks}); err != nil {
		t.Fatal(err)
	}
	began := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		seq     uint64
		capture time.Time
		want    time.Time
	}{
		{1, time.Time{}, began},
		{2, began.Add(1500 * time.Millisecond), began.Add(1500 * time.Millisecond)},
	} {
		c.wc.Queue(wire.BeginPoint{Seq: tc.seq, Base: tc.seq - 1, Kind: wire.KindCrash, Time: began, Disks: disks})
		c.wc.Queue(wire.Zero{Seq: tc.seq, Disk: "sda", First: 0, Count: 1})
		c.wc.Send(wire.EndPoint{Seq: tc.seq, Zeroed: 1, CaptureTime: tc.capture})
		c.expect(wire.TypeDurable)
		cm := c.expect(wire.TypeCommitted).(*wire.Committed)
		pt, err := e.repo.LoadPoint(context.Background(), cm.Point)
		if err != nil {
			t.Fatal(err)
		}
		if !pt.Time.Equal(tc.want) {
			t.Errorf("seq %d: point time %v, want %v", tc.seq, pt.Time, tc.want)
		}
	}
}
