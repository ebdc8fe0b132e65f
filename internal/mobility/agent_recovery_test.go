package mobility

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/mobility/state"
	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// An unclean stop leads to a resync that sends only the blocks that differ.
func TestAgentResyncAfterUncleanStop(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	const size = 8 << 20
	testImage(t, img, size, 4)
	peer := newTestPeer(t, map[string]int64{"sda": size})
	cfg := testConfig(t, dir, Disk{Name: "sda", Path: img})
	r := startAgent(t, cfg, Options{Dial: peer.dial})
	waitFor(t, "initial replication", 20*time.Second, func() bool { return r.a.initialDone() })
	r.stop()
	// As if killed: the state says running, and the map is lost.
	as, _ := state.LoadAgent(cfg.StateDir)
	as.Running = true
	state.SaveAgent(cfg.StateDir, as)
	os.Remove(state.MapPath(cfg.StateDir, "sda"))
	changed := mutate(t, img, 13, 5)
	before, _ := peer.stats()
	r = startAgent(t, cfg, Options{Dial: peer.dial})
	r.a.Trigger()
	waitFor(t, "the resync point", 20*time.Second, func() bool { return r.has("resync-complete") != nil })
	_, received := peer.stats()
	c := before + 1
	if received[c] != changed {
		t.Fatalf("resync point %d carries %d blocks, want %d", c, received[c], changed)
	}
	ev := r.has("resync-complete")
	if ev.Attrs["reason"] != "the previous run stopped uncleanly" || ev.Attrs["differing_blocks"] != "13" {
		t.Fatalf("resync event %+v", ev)
	}
	want, _ := os.ReadFile(img)
	if !bytes.Equal(peer.image("sda", size), want) {
		t.Fatal("replica differs after the resync")
	}
}

// Interrupted initial replication resumes from the newest committed partial point.
func TestAgentInitialResumes(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	const size = 32 << 20
	testImage(t, img, size, 6)
	peer := newTestPeer(t, map[string]int64{"sda": size})
	cfg := testConfig(t, dir, Disk{Name: "sda", Path: img})
	var stopOnce sync.Once
	stopped := make(chan struct{})
	peer.onDurable = func(seq uint64) bool {
		if seq == 3 {
			stopOnce.Do(func() { close(stopped) })
		}
		return true
	}
	cfg.Bandwidth = Bandwidth{Default: 8 << 20} // slow enough to stop it half way
	if err := cfg.Bandwidth.check(); err != nil {
		t.Fatal(err)
	}
	r := startAgent(t, cfg, Options{Dial: peer.dial})
	<-stopped
	waitFor(t, "seq 3 committed", 10*time.Second, func() bool { return r.a.Status().CommittedSeq >= 3 })
	r.stop()
	sentBefore := r.a.Status().SentBytes
	peer.onDurable = nil
	cfg.Bandwidth = Bandwidth{}
	r = startAgent(t, cfg, Options{Dial: peer.dial})
	waitFor(t, "initial replication", 20*time.Second, func() bool { return r.a.initialDone() })
	sentAfter := r.a.Status().SentBytes
	var data int64
	d, _ := openSource("sda", img)
	d.Ranges(func(off, n int64, isData bool) error {
		if isData {
			data += n
		}
		return nil
	})
	d.Close()
	// The points committed before the stop are not sent again; at most the in-flight ones are.
	if sentBefore < 8<<20 || sentAfter > data-8<<20 || sentAfter == 0 {
		t.Fatalf("sent %d before the interruption and %d after it, of %d bytes of data", sentBefore, sentAfter, data)
	}
	want, _ := os.ReadFile(img)
	if !bytes.Equal(peer.image("sda", size), want) {
		t.Fatal("replica differs after the resumed initial replication")
	}
}

// Committed-before-clear: the connection dies after Durable, before Committed. The agent keeps
// the point's changes until it learns the commit from Welcome.
func TestAgentDurableThenCut(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	const size = 8 << 20
	testImage(t, img, size, 7)
	peer := newTestPeer(t, map[string]int64{"sda": size})
	cfg := testConfig(t, dir, Disk{Name: "sda", Path: img})
	var cutSeq uint64
	peer.onDurable = func(seq uint64) bool {
		if cutSeq == 0 && peer.kinds[seq] != "partial" {
			cutSeq = seq
			return false
		}
		return true
	}
	r := startAgent(t, cfg, Options{Dial: peer.dial})
	waitFor(t, "initial replication", 20*time.Second, func() bool { return r.a.initialDone() })
	if cutSeq == 0 || r.has("disconnected") == nil || r.has("resync") != nil {
		t.Fatalf("cut at %d, events %+v", cutSeq, r.events)
	}
	if st := r.a.Status(); st.CommittedSeq != cutSeq || st.InFlightPoints != 0 {
		t.Fatalf("status after reconnect: %+v", st)
	}
	want, _ := os.ReadFile(img)
	if !bytes.Equal(peer.image("sda", size), want) {
		t.Fatal("replica differs")
	}
	m, err := state.LoadMap(cfg.StateDir, "sda")
	if err != nil || m.Seq != cutSeq {
		t.Fatalf("persisted map %v %v", m, err)
	}
	for i := int64(0); i < size/4096; i++ {
		if fp := tracker.FingerprintOf(want[i*4096 : (i+1)*4096]); fp != m.Fingerprints[i] {
			t.Fatalf("map block %d differs from the source", i)
		}
	}
	_ = strings.Contains
}

// A replica that lost everything (a new process server and vault) gets a new initial replication
// in partial points.
func TestAgentReplicaLost(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	const size = 16 << 20
	testImage(t, img, size, 41)
	peer := newTestPeer(t, map[string]int64{"sda": size})
	cfg := testConfig(t, dir, Disk{Name: "sda", Path: img})
	r := startAgent(t, cfg, Options{Dial: peer.dial})
	waitFor(t, "initial replication", 20*time.Second, func() bool { return r.a.initialDone() })
	r.stop()
	empty := newTestPeer(t, map[string]int64{"sda": size})
	r = startAgent(t, cfg, Options{Dial: empty.dial})
	waitFor(t, "the resync", 20*time.Second, func() bool { return r.has("resync") != nil })
	waitFor(t, "the new initial replication", 20*time.Second, func() bool {
		c := r.last("committed")
		return r.a.initialDone() && c != nil && c.Attrs["kind"] != "partial"
	})
	ev := r.has("resync")
	if ev == nil || ev.Attrs["reason"] != "the replica map is for seq 4, the process server's newest committed point is seq 0" {
		t.Fatalf("resync event %+v", ev)
	}
	if r.has("initial-progress") == nil {
		t.Fatal("no partial points after the replica was lost")
	}
	want, _ := os.ReadFile(img)
	if !bytes.Equal(empty.image("sda", size), want) {
		t.Fatal("new replica differs")
	}
}

// A replica that lost blocks is found by verify (an alert) and repaired by the next point.
func TestAgentVerifyFindsDamage(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	const size = 8 << 20
	testImage(t, img, size, 51)
	peer := newTestPeer(t, map[string]int64{"sda": size})
	cfg := testConfig(t, dir, Disk{Name: "sda", Path: img})
	r := startAgent(t, cfg, Options{Dial: peer.dial})
	waitFor(t, "initial replication", 20*time.Second, func() bool { return r.a.initialDone() })
	want, _ := os.ReadFile(img)
	peer.mu.Lock()
	damaged := 0
	for b := int64(0); b < size/4096 && damaged < 5; b += 97 {
		if want[b*4096] != 0 {
			peer.disks["sda"][b*4096] ^= 0xff
			damaged++
		}
	}
	peer.mu.Unlock()
	c0 := r.a.Status().CommittedSeq
	v, err := RequestVerify(context.Background(), cfg.StateDir)
	if err != nil || v.MapDivergent != int64(damaged) || v.SourceDiffers != int64(damaged) {
		t.Fatalf("verify %+v %v, want %d divergent", v, err, damaged)
	}
	if ev := r.has("verify-divergence"); ev == nil || ev.Level != "alert" || r.a.Status().VerifyDivergent != int64(damaged) {
		t.Fatalf("divergence event %+v", ev)
	}
	waitFor(t, "the repairing point", 20*time.Second, func() bool { return r.a.Status().CommittedSeq > c0 })
	if _, received := peer.stats(); received[c0+1] != damaged {
		t.Fatalf("repair point carries %d blocks, want %d", received[c0+1], damaged)
	}
	if !bytes.Equal(peer.image("sda", size), want) {
		t.Fatal("replica not repaired")
	}
}

// A point refused for its sequence leads to a resync, not to the same refusal forever.
func TestAgentSequenceRefusal(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	const size = 4 << 20
	testImage(t, img, size, 71)
	peer := newTestPeer(t, map[string]int64{"sda": size})
	peer.refuse = 1
	cfg := testConfig(t, dir, Disk{Name: "sda", Path: img})
	r := startAgent(t, cfg, Options{Dial: peer.dial})
	waitFor(t, "initial replication", 20*time.Second, func() bool { return r.a.initialDone() })
	ev := r.has("resync")
	if ev == nil || !strings.HasPrefix(ev.Attrs["reason"], "the process server refused a point: base seq ") {
		t.Fatalf("resync event %+v", ev)
	}
	want, _ := os.ReadFile(img)
	if !bytes.Equal(peer.image("sda", size), want) {
		t.Fatal("replica differs")
	}
}
