package processserver

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/wire"
)

// Vault storage that fails (its file system turned read-only) holds agents back with Status
// storage-unreachable; the durable point is retried and committed once storage is back, and the
// agent goes on.
func TestStorageOutageHoldsAndRecovers(t *testing.T) {
	mnt := loopExt4(t, 64<<20)
	e := newEnvAt(t, filepath.Join(mnt, "vault"), 0, nil)
	e.start()
	remount := func(mode string) {
		t.Helper()
		if out, err := exec.Command("mount", "-o", "remount,"+mode, mnt).CombinedOutput(); err != nil {
			t.Fatalf("remount %s: %v\n%s", mode, err, out)
		}
	}
	sda := newDisk("sda", 1<<20, 31)
	c, err := e.dial(e.identity(pki.RoleAgent, "web01"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.hello(wire.Hello{Machine: "web01", Disks: []wire.Disk{{Name: "sda", Size: sda.size()}}}); err != nil {
		t.Fatal(err)
	}
	remount("ro")
	restored := false
	defer func() {
		if !restored {
			remount("rw")
		}
	}()
	if err := c.sendPoint(1, 0, wire.KindCrash, []*disk{sda}, []change{{disk: sda, first: 0, n: sda.blocks()}}, nil); err != nil {
		t.Fatal(err)
	}
	c.expect(wire.TypeDurable) // the cache does not depend on storage
	waitFor(t, "upload failure", func() bool { return strings.Contains(e.logs.String(), "upload failed, retrying") })
	waitFor(t, "hold", func() bool {
		return strings.Contains(e.logs.String(), `msg="stopped reading from agents" reason=storage-unreachable`)
	})
	// The next point waits: the agent is told why.
	copy(sda.data, bytes.Repeat([]byte{1}, 4096))
	if err := c.sendPoint(2, 1, wire.KindCrash, []*disk{sda}, []change{{disk: sda, first: 0, n: 1}}, nil); err != nil {
		t.Fatal(err)
	}
	if h := e.srv.Health(); h.Status != "critical" || h.Reading || h.HoldReason != wire.StatusStorageDown {
		t.Fatalf("health during the outage: %+v", h)
	}
	remount("rw")
	restored = true
	committed := map[uint64]string{}
	c.untilDurable(2, committed)
	for len(committed) < 2 {
		m := c.expect(wire.TypeCommitted).(*wire.Committed)
		committed[m.Seq] = m.Point
	}
	var down, ok bool
	for _, s := range c.statuses {
		down = down || s.Reason == wire.StatusStorageDown
		ok = ok || (down && s.Reason == wire.StatusOK)
	}
	if !down || !ok {
		t.Fatalf("statuses %+v", c.statuses)
	}
	if !bytes.Equal(exportDisk(t, e.repo, committed[2], "sda"), sda.data) {
		t.Fatal("point 2 differs")
	}
}
