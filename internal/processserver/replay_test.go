package processserver

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/wire"
)

type rwPair struct {
	io.Reader
	io.Writer
}

// pointBytes encodes a point's frames as an agent sends them and the cache keeps them.
func pointBytes(t *testing.T, seq, base uint64, disks []*disk, changes []change) []byte {
	var buf bytes.Buffer
	c := &client{t: t, wc: wire.NewConn(rwPair{nil, &buf}, wire.Options{})}
	if err := c.sendPoint(seq, base, wire.KindCrash, disks, changes, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReplay(t *testing.T) {
	e := newEnv(t, 0, nil)
	sda := newDisk("sda", 2<<20, 9)
	dir := filepath.Join(e.cfg.Cache.Dir, "machines", "web01")
	os.MkdirAll(dir, 0o700)
	full := pointBytes(t, 1, 0, []*disk{sda}, []change{{disk: sda, first: 0, n: sda.blocks()}})
	os.WriteFile(filepath.Join(dir, "1.point"), full, 0o600)
	// Seq 2 never ended: its EndPoint is missing.
	inc := pointBytes(t, 2, 1, []*disk{sda}, []change{{disk: sda, first: 0, n: 1}})
	end := bytes.LastIndex(inc, []byte{byte(wire.TypeEndPoint), 0, 0, 0})
	os.WriteFile(filepath.Join(dir, "2.part"), inc[:end], 0o600)
	// Seq 3 is complete but a byte was flipped on disk: its checksum fails, it is dropped.
	bad := pointBytes(t, 3, 1, []*disk{sda}, []change{{disk: sda, first: 7, n: 1}})
	bad[100] ^= 1
	os.WriteFile(filepath.Join(dir, "3.point"), bad, 0o600)
	// Seq 4 is a .point without an EndPoint.
	os.WriteFile(filepath.Join(dir, "4.point"), inc[:end], 0o600)

	e.start()
	waitFor(t, "cache drained", func() bool { return len(cacheFiles(t, e.cfg.Cache.Dir)) == 0 })
	pts, err := e.repo.Points(context.Background(), "web01")
	if err != nil || len(pts) != 1 || pts[0].Labels[SeqLabel] != "1" {
		t.Fatalf("points %v, %v", pts, err)
	}
	if !bytes.Equal(exportDisk(t, e.repo, pts[0].ID, "sda"), sda.data) {
		t.Fatal("replayed point differs")
	}
	logs := e.logs.String()
	for _, want := range []string{"dropping incomplete cached point", "file=2.part", "seq=3 err=\"corrupt cache file", "frame checksum mismatch",
		"seq=4 err=\"no EndPoint: the point is incomplete\"", `msg="committed point" machine=web01 seq=1`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	c, err := e.dial(e.identity(pki.RoleAgent, "web01"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.hello(wire.Hello{Machine: "web01", Disks: []wire.Disk{{Name: "sda", Size: sda.size()}}}); err != nil {
		t.Fatal(err)
	}
	if c.welcome.CommittedSeq != 1 || c.welcome.Durable != 1 || c.welcome.CommittedPoint != pts[0].ID {
		t.Fatalf("welcome %+v", c.welcome)
	}
}

// A durable point survives a stop of the server before its upload finished (storage too slow) and
// is committed by the next start.
func TestDurableSurvivesStop(t *testing.T) {
	e := newEnv(t, 1<<20, nil) // 1 MiB/s: a 3 MiB point takes seconds to upload
	e.start()
	sda := newDisk("sda", 3<<20, 11)
	c, err := e.dial(e.identity(pki.RoleAgent, "web01"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.hello(wire.Hello{Machine: "web01", Disks: []wire.Disk{{Name: "sda", Size: sda.size()}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.sendPoint(1, 0, wire.KindCrash, []*disk{sda}, []change{{disk: sda, first: 0, n: sda.blocks()}}, nil); err != nil {
		t.Fatal(err)
	}
	c.expect(wire.TypeDurable)
	e.stop()
	if pts, _ := e.repo.Points(context.Background(), "web01"); len(pts) != 0 {
		t.Fatalf("committed before the stop: the test needs slower storage")
	}
	if files := cacheFiles(t, e.cfg.Cache.Dir); len(files) != 1 || files[0] != "machines/web01/1.point" {
		t.Fatalf("cache %v", files)
	}
	e2 := *e
	e2.cancel = nil
	e2.start()
	waitFor(t, "commit after restart", func() bool { return len(cacheFiles(t, e.cfg.Cache.Dir)) == 0 })
	pts, _ := e.repo.Points(context.Background(), "web01")
	if len(pts) != 1 || !bytes.Equal(exportDisk(t, e.repo, pts[0].ID, "sda"), sda.data) {
		t.Fatalf("after restart: %d points", len(pts))
	}
}
