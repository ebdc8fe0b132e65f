package mobility

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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
