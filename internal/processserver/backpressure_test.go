package processserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/wire"
)

// collect reads frames until Durable of seq, recording Committed frames on the way.
func (c *client) untilDurable(seq uint64, committed map[uint64]string) {
	c.t.Helper()
	for {
		f, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for Durable %d: %v", seq, err)
		}
		m, err := wire.Decode(f)
		if err != nil {
			c.t.Fatal(err)
		}
		switch m := m.(type) {
		case *wire.Committed:
			committed[m.Seq] = m.Point
		case *wire.Durable:
			if m.Seq == seq {
				return
			}
		default:
			c.t.Fatalf("unexpected %s %+v", f.Type, m)
		}
	}
}

func TestCacheLimitHoldsAgentsBack(t *testing.T) {
	// 8 MiB of cache: reading stops above 6 MiB used. Storage takes 4 MiB/s, agents send faster.
	e := newEnv(t, 4<<20, func(c *Config) { c.Cache.MaxBytes = 8 << 20 })
	c := holdAndResume(t, e, 2<<20, 6)
	healthAfter(t, e, 6)
	c.conn.Close() // the agent stays connected until here (an unreachable conn is closed by GC)
}

// The cache on a small file system of its own (ext4 on a loop device): the free space of the file
// system is what holds agents back.
func TestCacheFileSystemFullHoldsAgentsBack(t *testing.T) {
	mnt := loopExt4(t, 32<<20)
	e := newEnv(t, 8<<20, func(c *Config) { c.Cache.Dir = filepath.Join(mnt, "cache") })
	holdAndResume(t, e, 4<<20, 8)
}

// loopExt4 mounts a new ext4 file system of size bytes and returns its mount point.
func loopExt4(t *testing.T, size int64) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "cache.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 (install e2fsprogs): %v\n%s", err, out)
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount -o loop (needs root and util-linux): %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	})
	return mnt
}

// holdAndResume sends points of diskSize fresh bytes one after the other, faster than storage
// takes them: the server must hold the agent back (Status cache-full), then let it go on (Status
// ok), and commit every point exactly. It returns the agent's connection, still open.
func holdAndResume(t *testing.T, e *env, diskSize int, points uint64) *client {
	e.start()
	sda := newDisk("sda", diskSize, 5)
	c, err := e.dial(e.identity(pki.RoleAgent, "web01"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.hello(wire.Hello{Machine: "web01", Disks: []wire.Disk{{Name: "sda", Size: sda.size()}}}); err != nil {
		t.Fatal(err)
	}
	committed := map[uint64]string{}
	for seq := uint64(1); seq <= points; seq++ {
		sda = newDisk("sda", diskSize, 100+seq) // new content each time: nothing deduplicates
		if err := c.sendPoint(seq, seq-1, wire.KindCrash, []*disk{sda}, []change{{disk: sda, first: 0, n: sda.blocks()}}, nil); err != nil {
			t.Fatal(err)
		}
		c.untilDurable(seq, committed)
	}
	for uint64(len(committed)) < points {
		m := c.expect(wire.TypeCommitted).(*wire.Committed)
		committed[m.Seq] = m.Point
	}
	var full, ok bool
	for _, s := range c.statuses {
		full = full || s.Reason == wire.StatusCacheFull
		ok = ok || (full && s.Reason == wire.StatusOK)
	}
	if !full || !ok {
		t.Fatalf("statuses %+v: want cache-full, then ok", c.statuses)
	}
	if !strings.Contains(e.logs.String(), "stopped reading from agents") || !strings.Contains(e.logs.String(), "reading from agents again") {
		t.Fatal("no log of the hold")
	}
	if !bytes.Equal(exportDisk(t, e.repo, committed[points], "sda"), sda.data) {
		t.Fatal("last point differs")
	}
	return c
}

func healthAfter(t *testing.T, e *env, points uint64) {

	// Health tells what happened.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.srv.ServeHealth(ctx, ln)
	resp, err := http.Get("http://" + ln.Addr().String() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var h Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// (Status depends on the free space of the host's file system too: not asserted here.)
	if h.Name != "ps1" || h.ConnectedAgents != 1 || h.BacklogBytes != 0 || !h.Reading ||
		len(h.Machines) != 1 || h.Machines[0].CommittedSeq != points || h.RSSBytes == 0 {
		t.Fatalf("health %+v", h)
	}
	resp, err = http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"osr_ps_connected_agents 1", "osr_ps_cache_free_percent", `osr_ps_machine_received_bytes_total{machine="web01"}`, "process_resident_memory_bytes"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
