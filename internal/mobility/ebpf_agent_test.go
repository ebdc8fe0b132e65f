//go:build linux

package mobility

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/opensiterecovery/osr/internal/directio"
	"github.com/opensiterecovery/osr/internal/mobility/state"
	"github.com/opensiterecovery/osr/internal/mobility/tracker/ebpf"
)

// readDevice reads a whole device past its page cache.
func readDevice(t *testing.T, dev string) []byte {
	t.Helper()
	f, err := os.OpenFile(dev, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Seek(0, 2)
	b := directio.AlignedBuffer(int(fi))
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// fsck checks an exported ext4 image read-only.
func fsck(t *testing.T, img []byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fsck.img")
	if err := os.WriteFile(p, img, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("e2fsck", "-fn", p).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck of the exported point: %v\n%s", err, out)
	}
}

// With the ebpf tracker, points of a mounted ext4 under a steady workload are clean filesystems,
// and once the filesystem is unmounted the next point is the device byte for byte.
func TestEBPFAgentExt4(t *testing.T) {
	dir := t.TempDir()
	dev, mnt := ext4Device(t, dir)
	ps := startPS(t, dir)
	cfg := ps.config(t, Disk{Name: "sdb", Path: dev})
	cfg.Tracker = "ebpf"
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.CrashConsistentInterval = time.Second
	t.Cleanup(func() { ebpf.RemovePins(cfg.Machine) }) // after the agent's clean stop pinned them
	r := startAgent(t, cfg, Options{})
	if st := r.a.Status(); st.Tracker != "ebpf" {
		t.Fatalf("tracker %q, want ebpf", st.Tracker)
	}
	waitFor(t, "initial replication", 30*time.Second, func() bool { return r.a.initialDone() })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // about 4 MB/s of file writes, renames and deletes
		defer wg.Done()
		rng := rand.New(rand.NewPCG(5, 6))
		buf := make([]byte, 256<<10)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			for j := range buf {
				buf[j] = byte(rng.Uint32())
			}
			name := filepath.Join(mnt, fmt.Sprintf("f%d", i%40))
			os.WriteFile(name+".tmp", buf[:rng.IntN(len(buf))+1], 0o644)
			os.Rename(name+".tmp", name)
			if i%7 == 0 {
				os.Remove(filepath.Join(mnt, fmt.Sprintf("f%d", (i+13)%40)))
			}
		}
	}()
	c0 := r.a.Status().CommittedSeq
	waitFor(t, "points under the workload", 30*time.Second, func() bool { return r.a.Status().CommittedSeq >= c0+3 })
	close(stop)
	wg.Wait()
	mid := r.a.Status().CommittedSeq
	fsck(t, ps.export(t, mid, "sdb"))
	// The agent freezes the filesystem for a moment at every point (each second here), and umount
	// of a frozen filesystem answers "target is busy": try again for a while.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := exec.Command("umount", mnt).CombinedOutput()
		if err == nil {
			break
		}
		if !bytes.Contains(out, []byte("busy")) || time.Now().After(deadline) {
			t.Fatalf("umount: %v %s", err, out)
		}
	}
	want := readDevice(t, dev)
	waitFor(t, "a point after the unmount", 30*time.Second, func() bool { return r.a.Status().CommittedSeq >= mid+2 })
	last := r.a.Status().CommittedSeq
	if got := ps.export(t, last, "sdb"); !bytes.Equal(got, want) {
		t.Fatalf("point %d differs from the unmounted device", last)
	}
	st := r.a.Status()
	if st.TrackerDrops != 0 || st.TrackerMisses != 0 || st.TrackerGaps != 0 || st.Resyncs != 0 {
		t.Fatalf("status %+v: want no drops, misses, gaps or resyncs", st)
	}
}

// TestHelperAgentProcess is the agent the kill test runs in a process of its own.
func TestHelperAgentProcess(t *testing.T) {
	dir := os.Getenv("OSR_TEST_AGENT_DIR")
	if dir == "" {
		return // not the helper
	}
	cfg := testConfig(t, dir, Disk{Name: "sda", Path: os.Getenv("OSR_TEST_AGENT_DISK")})
	cfg.ProcessServer = os.Getenv("OSR_TEST_AGENT_PS")
	cfg.TLS = TLSConfig{CA: filepath.Join(dir, "ca", "ca.crt"), Cert: filepath.Join(dir, "certs", "web01.crt"), Key: filepath.Join(dir, "certs", "web01.key")}
	cfg.Tracker, cfg.CrashConsistentInterval = "ebpf", time.Second
	if tr := os.Getenv("OSR_TEST_AGENT_TRACKER"); tr != "" { // the benchmark: product defaults
		cfg.Tracker, cfg.CrashConsistentInterval = tr, DefaultCrashConsistentInterval
		cfg.InitialPointSize = DefaultInitialPointSize
	}
	a, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)), NoSocket: true, BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a.Run(context.Background()) // until killed
}

// kill -9 of an agent during writes, then a restart: the resync sends no more than 1.2 times the
// bytes that changed since the newest committed point, and the next point is the device exactly.
func TestEBPFAgentKill9(t *testing.T) {
	dir := t.TempDir()
	ps := startPS(t, dir)
	if ps.tls.CA != filepath.Join(dir, "ca", "ca.crt") {
		t.Fatalf("CA at %s: the helper expects it elsewhere", ps.tls.CA)
	}
	const size = 64 << 20
	dev := loopDev(t, dir, size)
	dw, err := os.OpenFile(dev, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dw.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	blk := directio.AlignedBuffer(64 << 10)
	writeRandom := func(n int) {
		for range n {
			for i := range blk {
				blk[i] = byte(rng.Uint32())
			}
			l := (rng.IntN(16) + 1) * 4096
			off := int64(rng.IntN(size/4096-16)) * 4096
			if _, err := dw.WriteAt(blk[:l], off); err != nil {
				t.Error(err)
				return
			}
		}
	}
	writeRandom(500)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAgentProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "OSR_TEST_AGENT_DIR="+dir, "OSR_TEST_AGENT_DISK="+dev, "OSR_TEST_AGENT_PS="+ps.addr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	stateDir := filepath.Join(dir, "state")
	initial := func() bool {
		as, err := state.LoadAgent(stateDir)
		return err == nil && as.InitialDone && as.CommittedSeq >= 2
	}
	waitFor(t, "the helper's initial replication", 60*time.Second, initial)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				writeRandom(20)
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	time.Sleep(2500 * time.Millisecond)
	cmd.Process.Signal(unix.SIGKILL)
	cmd.Wait()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	if as, _ := state.LoadAgent(stateDir); !as.Running {
		t.Fatalf("the killed agent's state does not say it was running\n%s", out.String())
	}
	time.Sleep(500 * time.Millisecond) // the process server finishes what it holds
	pts := ps.points(t)
	var newest uint64
	for s := range pts {
		newest = max(newest, s)
	}
	replica := ps.export(t, newest, "sda")
	now := readDevice(t, dev)
	changed := 0
	for o := 0; o < size; o += 4096 {
		if !bytes.Equal(replica[o:o+4096], now[o:o+4096]) {
			changed++
		}
	}
	if changed == 0 {
		t.Fatal("nothing changed since the newest point: the test writes nothing")
	}
	cfg := ps.config(t, Disk{Name: "sda", Path: dev})
	cfg.Tracker, cfg.CrashConsistentInterval = "ebpf", time.Second
	t.Cleanup(func() { ebpf.RemovePins(cfg.Machine) }) // after the agent's clean stop pinned them
	r := startAgent(t, cfg, Options{})
	for deadline := time.Now().Add(120 * time.Second); r.has("resync-complete") == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.mu.Lock()
			for _, e := range r.events {
				t.Logf("event %s %s %s %v", e.Kind, e.Level, e.Message, e.Attrs)
			}
			r.mu.Unlock()
			t.Fatalf("no resync point within 120s; status %+v", r.a.Status())
		}
	}
	if ev := r.has("tracking-not-resumed"); ev == nil || ev.Attrs["reason"] != "the previous run stopped uncleanly" {
		t.Fatalf("after kill -9: tracking-not-resumed event %+v, want the unclean stop as its reason", ev)
	}
	ev := r.has("resync-complete")
	differ, _ := strconv.Atoi(ev.Attrs["differing_blocks"])
	t.Logf("changed since point %d: %d blocks; resync sent %d", newest, changed, differ)
	// The reason is the unclean stop, or a point of the killed agent the process server committed
	// after the kill (the agent did not send it in this run): either way a hash resync.
	if float64(differ) > 1.2*float64(changed) || differ < changed || ev.Attrs["reason"] == "" {
		t.Fatalf("resync event %+v: %d blocks changed", ev, changed)
	}
	seq, _ := strconv.ParseUint(ev.Attrs["seq"], 10, 64)
	waitFor(t, "its commit", 60*time.Second, func() bool { return r.a.Status().CommittedSeq >= seq })
	if got := ps.export(t, seq, "sda"); !bytes.Equal(got, now) {
		t.Fatal("the point after the resync differs from the device")
	}
}

// loopDev attaches a zeroed sparse file to a loop device.
func loopDev(t testing.TB, dir string, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (loop devices, the BPF program)")
	}
	img := filepath.Join(dir, "raw.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Truncate(img, size)
	out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev
}
