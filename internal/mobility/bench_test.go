package mobility

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// peakRSS returns the process's peak resident set (VmHWM) in bytes.
func peakRSS() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n << 10
		}
	}
	return 0
}

// BenchmarkProtect2GiB: initial replication and one scan point of a 2 GiB image (1.5 GiB of
// data, the rest holes) to a peer that discards the data. Reports MB/s of disk and the process's
// peak RSS (the agent's buffers, map and overlays; the peer keeps nothing).
//
//	go test -run XXX -bench Protect2GiB -benchtime 1x ./internal/mobility/
func BenchmarkProtect2GiB(b *testing.B) {
	const size = 2 << 30
	dir := b.TempDir()
	img := filepath.Join(dir, "sda.img")
	f, _ := os.Create(img)
	f.Truncate(size)
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size*3/4; off += int64(len(buf)) {
		for i := 0; i < len(buf); i += 4096 {
			binary.LittleEndian.PutUint64(buf[i:], uint64(off)+uint64(i))
			buf[i+8] = 1
		}
		f.WriteAt(buf, off)
	}
	f.Close()
	b.ResetTimer()
	for range b.N {
		peer := newTestPeer(&testing.T{}, map[string]int64{"sda": 0})
		peer.discard = true
		t := &testing.T{}
		cfg := testConfig(t, b.TempDir(), Disk{Name: "sda", Path: img})
		cfg.InitialPointSize = 256 << 20
		start := time.Now()
		r := startAgent(t, cfg, Options{Dial: peer.dial})
		for !r.a.initialDone() {
			time.Sleep(10 * time.Millisecond)
		}
		initial := time.Since(start)
		c := r.a.Status().CommittedSeq
		start = time.Now()
		r.a.Trigger()
		for r.a.Status().CommittedSeq == c {
			time.Sleep(10 * time.Millisecond)
		}
		scan := time.Since(start)
		st := r.a.Status()
		r.stop()
		b.ReportMetric(float64(size)/1e6/initial.Seconds(), "initial-MB/s")
		b.ReportMetric(float64(size)/1e6/scan.Seconds(), "scan-point-MB/s")
		b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(st.TrackingPerGiB)/(1<<20), "tracking-MiB/GiB")
	}
}
