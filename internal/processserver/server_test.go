package processserver

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/wire"
)

func TestFullAndIncrementalPoints(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.start()
	agent := e.identity(pki.RoleAgent, "web01")
	sda := newDisk("sda", 3<<20, 1)
	sdb := newDisk("sdb", 1<<20+512, 2) // not a multiple of the block size
	disks := []*disk{sda, sdb}
	c, err := e.dial(agent)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.hello(wire.Hello{Machine: "web01", Disks: []wire.Disk{{Name: "sda", Size: sda.size()}, {Name: "sdb", Size: sdb.size()}}}); err != nil {
		t.Fatal(err)
	}
	if c.welcome.CommittedSeq != 0 || c.welcome.Durable != 0 || c.welcome.Server != "ps1" {
		t.Fatalf("welcome %+v", c.welcome)
	}
	// Seq 1: the whole disks.
	if err := c.sendPoint(1, 0, wire.KindCrash, disks, []change{{disk: sda, first: 0, n: sda.blocks()}, {disk: sdb, first: 0, n: sdb.blocks()}}, nil); err != nil {
		t.Fatal(err)
	}
	if d := c.expect(wire.TypeDurable).(*wire.Durable); d.Seq != 1 {
		t.Fatalf("durable %d", d.Seq)
	}
	c1 := c.expect(wire.TypeCommitted).(*wire.Committed)
	if c1.Seq != 1 {
		t.Fatalf("committed %+v", c1)
	}
	// Seq 2: some blocks change, a range turns to zeros.
	copy(sda.data[5*4096:], bytes.Repeat([]byte{0xAB}, 3*4096))
	clear(sda.data[100*4096 : 300*4096])
	copy(sdb.data[len(sdb.data)-100:], bytes.Repeat([]byte{7}, 100))
	if err := c.sendPoint(2, 1, wire.KindApp, disks, []change{{disk: sda, first: 5, n: 3}, {disk: sda, first: 100, n: 200, zero: true}, {disk: sdb, first: sdb.blocks() - 1, n: 1}}, nil); err != nil {
		t.Fatal(err)
	}
	c.expect(wire.TypeDurable)
	c2 := c.expect(wire.TypeCommitted).(*wire.Committed)
	ctx := context.Background()
	pt, err := e.repo.LoadPoint(ctx, c2.Point)
	if err != nil {
		t.Fatal(err)
	}
	if pt.Parent != c1.Point || pt.Labels[SeqLabel] != "2" || pt.Consistency != store.AppConsistent || pt.Partial {
		t.Fatalf("point %+v", pt)
	}
	for _, d := range disks {
		if got := exportDisk(t, e.repo, c2.Point, d.name); !bytes.Equal(got, d.data) {
			t.Fatalf("disk %s differs after the incremental point", d.name)
		}
	}
	// Fingerprints of the replica equal the model's.
	if err := c.wc.Send(wire.FingerprintsRequest{Disk: "sda", First: 0, Count: sda.blocks()}); err != nil {
		t.Fatal(err)
	}
	fps := c.expect(wire.TypeFingerprints).(*wire.Fingerprints)
	if fps.Point != c2.Point || len(fps.Fingerprints) != int(sda.blocks())*16 {
		t.Fatalf("fingerprints of %s, %d bytes", fps.Point, len(fps.Fingerprints))
	}
	for i := 0; i < int(sda.blocks()); i++ {
		want := wire.Fingerprint(sda.data[i*4096 : (i+1)*4096])
		if !bytes.Equal(fps.Fingerprints[i*16:(i+1)*16], want[:]) {
			t.Fatalf("fingerprint of block %d differs", i)
		}
	}
	if files := cacheFiles(t, e.cfg.Cache.Dir); len(files) != 0 {
		t.Fatalf("cache not freed: %v", files)
	}
	// A new connection learns both from Welcome; a seq at or below the durable one is refused.
	c.conn.Close()
	c, err = e.dial(agent)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.hello(wire.Hello{Machine: "web01", Disks: []wire.Disk{{Name: "sda", Size: sda.size()}}, CommittedSeq: 1}); err != nil {
		t.Fatal(err)
	}
	if c.welcome.CommittedSeq != 2 || c.welcome.CommittedPoint != c2.Point || c.welcome.Durable != 2 {
		t.Fatalf("welcome %+v", c.welcome)
	}
	if m := c.expect(wire.TypeCommitted).(*wire.Committed); m.Seq != 2 || m.Point != c2.Point {
		t.Fatalf("missed commit %+v", m)
	}
	c.sendPoint(2, 1, wire.KindCrash, disks, nil, nil)
	if m := c.expect(wire.TypeError).(*wire.Error); m.Code != wire.ErrCodeSequence || m.Message != "point seq 2 is not above the newest durable seq 2" {
		t.Fatalf("error %+v", m)
	}
}

func TestPartialPoints(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.start()
	sda := newDisk("sda", 2<<20, 3)
	c, err := e.dial(e.identity(pki.RoleAgent, "db01"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.hello(wire.Hello{Machine: "db01", Disks: []wire.Disk{{Name: "sda", Size: sda.size()}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.sendPoint(1, 0, wire.KindPartial, []*disk{sda}, []change{{disk: sda, first: 0, n: 256}}, map[string]int64{"sda": 1 << 20}); err != nil {
		t.Fatal(err)
	}
	c.expect(wire.TypeDurable)
	m := c.expect(wire.TypeCommitted).(*wire.Committed)
	pt, err := e.repo.LoadPoint(context.Background(), m.Point)
	if err != nil {
		t.Fatal(err)
	}
	if !pt.Partial || pt.Consistency != store.NoConsistency || pt.Labels[InitialLabelPrefix+"sda"] != "1048576" {
		t.Fatalf("partial point %+v", pt)
	}
}

func TestRefusedClients(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.start()
	otherDir := t.TempDir()
	oca, _ := pki.InitCA(otherDir, "", e.ca.Cert.NotBefore)
	foreign := issueWith(t, oca, otherDir, pki.RoleAgent, "web01")
	foreignTLS := foreign.ClientConfig("127.0.0.1", pki.PeerCheck{Roles: []pki.Role{pki.RoleProcessServer}})
	foreignTLS.RootCAs = e.psID.Roots
	noCert := e.identity(pki.RoleAgent, "nocert").ClientConfig("127.0.0.1", pki.PeerCheck{Roles: []pki.Role{pki.RoleProcessServer}})
	noCert.Certificates = nil
	vault := e.identity(pki.RoleVault, "web01").ClientConfig("127.0.0.1", pki.PeerCheck{Roles: []pki.Role{pki.RoleProcessServer}})
	for _, tc := range []struct {
		name    string
		cfgFn   func() (*client, error)
		wantLog string
	}{
		{"no certificate", func() (*client, error) { return dialWith(t, e.addr, noCert) }, "client didn't provide a certificate"},
		{"other CA", func() (*client, error) { return dialWith(t, e.addr, foreignTLS) }, "certificate signed by unknown authority"},
		{"wrong role", func() (*client, error) { return dialWith(t, e.addr, vault) }, "peer certificate is for role vault web01, not agent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.cfgFn()
			if err == nil {
				err = c.hello(wire.Hello{Machine: "web01", Disks: []wire.Disk{{Name: "sda", Size: 4096}}})
			}
			if err == nil {
				t.Fatal("connection accepted")
			}
			waitFor(t, "refusal log", func() bool { return strings.Contains(e.logs.String(), tc.wantLog) })
		})
	}
	// A Hello for another machine than the certificate's.
	c, err := e.dial(e.identity(pki.RoleAgent, "web02"))
	if err != nil {
		t.Fatal(err)
	}
	err = c.hello(wire.Hello{Machine: "web01", Disks: []wire.Disk{{Name: "sda", Size: 4096}}})
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.ErrCodeAuth || we.Message != "hello names machine web01 but the certificate is for web02" {
		t.Fatalf("got %v", err)
	}
	if pts, _ := e.repo.Points(context.Background(), ""); len(pts) != 0 {
		t.Fatalf("%d points", len(pts))
	}
}

func TestBadFramesWriteNothing(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.start()
	agent := e.identity(pki.RoleAgent, "web01")
	sda := newDisk("sda", 1<<20, 4)
	for _, tc := range []struct {
		name    string
		corrupt func(raw []byte)
		wantLog string
		wantErr string
	}{
		{"frame checksum", func(raw []byte) { raw[len(raw)-1] ^= 1 }, "frame checksum mismatch", ""},
		{"block fingerprint", func(raw []byte) {
			raw[len(raw)-5] ^= 1 // last data byte: the fingerprint no longer matches
			body := raw[:len(raw)-4]
			sum := wire.AppendFrame(nil, wire.Type(raw[0]), body[wire.HeaderSize:])
			copy(raw, sum)
		}, "block fingerprint mismatch", "disk sda block 3: block fingerprint mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := e.dial(agent)
			if err != nil {
				t.Fatal(err)
			}
			defer c.conn.Close()
			if err := c.hello(wire.Hello{Machine: "web01", Disks: []wire.Disk{{Name: "sda", Size: sda.size()}}}); err != nil {
				t.Fatal(err)
			}
			bp := wire.BeginPoint{Seq: 1, Kind: wire.KindCrash, Disks: []wire.Disk{{Name: "sda", Size: sda.size()}}}
			if err := c.wc.Send(bp); err != nil {
				t.Fatal(err)
			}
			m := wire.Blocks{Seq: 1, Disk: "sda", First: 0, Data: sda.data[:4*4096]}
			m.SetFingerprints()
			p, _ := m.AppendPayload(nil)
			raw := wire.AppendFrame(nil, wire.TypeBlocks, p)
			tc.corrupt(raw)
			c.conn.Write(raw)
			f, err := c.next()
			if tc.wantErr != "" {
				var we wire.Error
				if err != nil || f.Type != wire.TypeError || we.Decode(f.Payload) != nil || we.Message != tc.wantErr {
					t.Fatalf("got %v %v %+v", f.Type, err, we)
				}
				_, err = c.next()
			}
			if err == nil {
				t.Fatal("connection still open")
			}
			waitFor(t, "log", func() bool { return strings.Contains(e.logs.String(), tc.wantLog) })
			waitFor(t, "cache emptied", func() bool { return len(cacheFiles(t, e.cfg.Cache.Dir)) == 0 })
			if pts, _ := e.repo.Points(context.Background(), ""); len(pts) != 0 {
				t.Fatalf("%d points", len(pts))
			}
		})
	}
}
