//go:build linux

package mobility

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/opensiterecovery/osr/internal/directio"
	"github.com/opensiterecovery/osr/internal/mobility/state"
)

// BenchmarkRPO runs the agent (in a process of its own, with the product's default cadence) on a
// 2 GiB loop device under a steady random-write load and samples, every second, the age of the
// newest committed point: the ebpf tracker, then the scan tracker, in the same run. The load
// (OSR_BENCH_RATE_MB, default 20 MB/s) and the time per tracker (OSR_BENCH_RPO_TIME, default
// 2m) can be changed. It reports p50/p99/max RPO, and the agent's CPU share and peak RSS.
func BenchmarkRPO(b *testing.B) {
	dur := 2 * time.Minute
	if v := os.Getenv("OSR_BENCH_RPO_TIME"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		dur = d
	}
	rate := 20
	if v := os.Getenv("OSR_BENCH_RATE_MB"); v != "" {
		rate, _ = strconv.Atoi(v)
	}
	trackers := []string{"ebpf", "scan"}
	if v := os.Getenv("OSR_BENCH_TRACKERS"); v != "" {
		trackers = strings.Fields(v)
	}
	for b.Loop() {
		for _, tr := range trackers {
			r := rpoRun(b, tr, int64(rate)*1e6, dur)
			fmt.Printf("rpo %-4s %d MB/s for %v: p50 %.1fs p99 %.1fs max %.1fs; %d points; agent CPU %.1f%% of a core, peak RSS %d MiB\n",
				tr, rate, dur, r.p50, r.p99, r.max, r.points, r.cpu*100, r.rss>>20)
			b.ReportMetric(r.p99, tr+"-rpo-p99-s")
		}
	}
}

type rpoResult struct {
	p50, p99, max, cpu float64
	points             uint64
	rss                int64
}

func rpoRun(b *testing.B, tr string, rate int64, dur time.Duration) rpoResult {
	const size = 2 << 30
	dir := b.TempDir()
	ps := startPS(b, dir)
	dev := loopDev(b, dir, size)
	dw, err := os.OpenFile(dev, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer dw.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAgentProcess$")
	cmd.Env = append(os.Environ(), "OSR_TEST_AGENT_DIR="+dir, "OSR_TEST_AGENT_DISK="+dev, "OSR_TEST_AGENT_PS="+ps.addr, "OSR_TEST_AGENT_TRACKER="+tr)
	logDir := dir
	if d := os.Getenv("OSR_BENCH_LOG_DIR"); d != "" { // keep the agent's log
		logDir = d
	}
	log, _ := os.Create(filepath.Join(logDir, "agent-"+tr+".log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	stateDir := filepath.Join(dir, "state")
	deadline := time.Now().Add(5 * time.Minute)
	for {
		as, err := state.LoadAgent(stateDir)
		if err == nil && as.InitialDone && !as.CaptureTime.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("no complete point within 5 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // rate bytes/s of 4 KiB random writes, in batches every 10 ms
		defer close(done)
		rng := rand.New(rand.NewPCG(1, 1))
		buf := directio.AlignedBuffer(4096)
		per := int(rate / 4096 / 100)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for range per {
				for i := 0; i < 4096; i += 8 {
					binary.LittleEndian.PutUint64(buf[i:], rng.Uint64())
				}
				dw.WriteAt(buf, int64(rng.IntN(size/4096))*4096)
			}
		}
	}()
	cpu0 := procCPU(cmd.Process.Pid)
	start := time.Now()
	var rpos []float64
	var seq0, seq uint64
	for time.Since(start) < dur {
		time.Sleep(time.Second)
		as, err := state.LoadAgent(stateDir)
		if err != nil {
			continue
		}
		if seq0 == 0 {
			seq0 = as.CommittedSeq
		}
		seq = as.CommittedSeq
		rpos = append(rpos, time.Since(as.CaptureTime).Seconds())
	}
	cpu := (procCPU(cmd.Process.Pid) - cpu0) / time.Since(start).Seconds()
	close(stop)
	<-done
	rss := procHWM(cmd.Process.Pid)
	slices.Sort(rpos)
	q := func(p float64) float64 { return rpos[min(len(rpos)-1, int(p*float64(len(rpos))))] }
	return rpoResult{p50: q(0.5), p99: q(0.99), max: rpos[len(rpos)-1], cpu: cpu, points: seq - seq0, rss: rss}
}

// procCPU returns the user+system CPU seconds of a process.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // USER_HZ
}

// procHWM returns the peak resident set of a process in bytes.
func procHWM(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n << 10
		}
	}
	return 0
}
