//go:build linux

package mobility

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cebpf "github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/opensiterecovery/osr/internal/directio"
	"github.com/opensiterecovery/osr/internal/mobility/tracker/ebpf"
)

// readSectors is the kernel's count of sectors read from a block device (/sys/block/X/stat).
func readSectors(t *testing.T, dev string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	n, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		t.Fatalf("stat of %s: %q", dev, b)
	}
	return n
}

// writeBlocks writes random data to the 4 KiB blocks named, past the page cache.
func writeBlocks(t *testing.T, dev string, rng *rand.Rand, blocks []int64) {
	t.Helper()
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := directio.AlignedBuffer(4096)
	for _, b := range blocks {
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(buf, b*4096); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	exec.Command("udevadm", "settle").Run() // a probe of the device after the close must not count as the agent's reads
}

// firstPoint waits for the first point of a run and returns its seq and blocks.
func firstPoint(t *testing.T, r *running) (seq uint64, blocks int) {
	t.Helper()
	waitFor(t, "the first point of the run", 60*time.Second, func() bool { return r.has("point-sent") != nil })
	ev := r.has("point-sent")
	seq, _ = strconv.ParseUint(ev.Attrs["seq"], 10, 64)
	blocks, _ = strconv.Atoi(ev.Attrs["blocks"])
	waitFor(t, "its commit", 60*time.Second, func() bool { return r.a.Status().CommittedSeq >= seq })
	return seq, blocks
}

// stopQuiet waits until no point is in flight and stops the agent cleanly.
func stopQuiet(t *testing.T, r *running) {
	t.Helper()
	waitFor(t, "no point in flight", 30*time.Second, func() bool { return r.a.Status().InFlightPoints == 0 })
	r.stop()
	if r.has("tracking-suspended") == nil {
		t.Fatalf("a clean stop did not leave the tracker tracking: events %+v", r.events)
	}
}

// A clean stop leaves the ebpf tracker attached with its maps pinned: the first point after the
// restart reads exactly the blocks written while the agent was stopped, and is the device byte for
// byte. Pins of another program version end the chain: the first point compares every block.
func TestEBPFAgentCleanRestart(t *testing.T) {
	dir := t.TempDir()
	ps := startPS(t, dir)
	const size = 64 << 20
	dev := loopDev(t, dir, size)
	machine := ps.config(t, Disk{Name: "sda", Path: dev}).Machine
	ebpf.RemovePins(machine)
	t.Cleanup(func() { ebpf.RemovePins(machine) })
	rng := rand.New(rand.NewPCG(11, 12))
	var early []int64
	for range 200 {
		early = append(early, rng.Int64N(size/4096))
	}
	writeBlocks(t, dev, rng, early)
	config := func() *Config {
		cfg := ps.config(t, Disk{Name: "sda", Path: dev})
		cfg.Tracker, cfg.CrashConsistentInterval = "ebpf", time.Second
		return cfg
	}
	r := startAgent(t, config(), Options{})
	waitFor(t, "initial replication", 60*time.Second, func() bool { return r.a.initialDone() && r.a.Status().CommittedSeq >= 2 })
	stopQuiet(t, r)
	if _, err := os.Stat(filepath.Join(ebpf.PinDir(machine), "meta")); err != nil {
		t.Fatalf("no pins after a clean stop: %v", err)
	}

	// Writes while stopped, 40 blocks apart (each is a read of its own), then a restart.
	var stopped []int64
	for k := range int64(30) {
		stopped = append(stopped, 100+40*k)
	}
	stopped = append(stopped, 3000, 3001, 3002)
	writeBlocks(t, dev, rng, stopped)
	want := readDevice(t, dev)
	s0 := readSectors(t, dev)
	r2 := startAgent(t, config(), Options{})
	seq, blocks := firstPoint(t, r2)
	read := (readSectors(t, dev) - s0) * 512
	if r2.has("tracking-resumed") == nil {
		t.Fatalf("the restart did not resume tracking: events %+v", r2.events)
	}
	if blocks != len(stopped) || read != int64(len(stopped))*4096 {
		t.Fatalf("first point after a clean restart: %d blocks sent, %d bytes read; want %d blocks, %d bytes", blocks, read, len(stopped), len(stopped)*4096)
	}
	if got := ps.export(t, seq, "sda"); !bytes.Equal(got, want) {
		t.Fatalf("point %d differs from the device", seq)
	}
	if _, err := os.Stat(ebpf.PinDir(machine)); err == nil {
		t.Fatal("the pins outlive the start that took them over")
	}
	stopQuiet(t, r2)

	// Pins of another program version: a full compare, with an event that says why.
	meta := filepath.Join(ebpf.PinDir(machine), "meta")
	m, err := cebpf.LoadPinnedMap(meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if err := m.Lookup(uint32(0), &buf); err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(bytes.TrimRight(buf, "\x00"), &fields); err != nil {
		t.Fatal(err)
	}
	fields["program"] = strings.Repeat("0123456789abcdef", 4)
	js, _ := json.Marshal(fields)
	clear(buf)
	copy(buf, js)
	if err := m.Put(uint32(0), buf); err != nil {
		t.Fatal(err)
	}
	m.Close()
	writeBlocks(t, dev, rng, []int64{7, 9000})
	want = readDevice(t, dev)
	s0 = readSectors(t, dev)
	r3 := startAgent(t, config(), Options{})
	seq, blocks = firstPoint(t, r3)
	read = (readSectors(t, dev) - s0) * 512
	ev := r3.has("tracking-not-resumed")
	const why = "the pinned tracker is another program version (0123456789ab, this build "
	if ev == nil || !strings.HasPrefix(ev.Attrs["reason"], why) || r3.has("tracking-resumed") != nil {
		t.Fatalf("pins of another version: event %+v, want reason %q...", ev, why)
	}
	if blocks != 2 || read < size/2 {
		t.Fatalf("first point after pins of another version: %d blocks sent, %d bytes read; want 2 blocks and a full compare", blocks, read)
	}
	if got := ps.export(t, seq, "sda"); !bytes.Equal(got, want) {
		t.Fatalf("point %d differs from the device", seq)
	}
	t.Logf("resumed: %d bytes read for %d blocks; other version: %d bytes read", int64(len(stopped))*4096, len(stopped), read)
}
