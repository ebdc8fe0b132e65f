package processserver

import (
	"bytes"
	"testing"

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
