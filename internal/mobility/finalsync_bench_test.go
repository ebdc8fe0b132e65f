//go:build linux

package mobility

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/mobility/tracker/ebpf"
)

// BenchmarkFinalSync measures a planned failover's final sync on a 2 GiB ext4 loop device while
// a writer creates and fsyncs files: the time FinalSync takes (the request to the committed point)
// and the freeze it holds, with the ebpf and the scan tracker (OSR_BENCH_TRACKERS), through the
// real process server into a file store.
//
//	go test -run XXX -bench FinalSync -benchtime 3x ./internal/mobility/
func BenchmarkFinalSync(b *testing.B) {
	trackers := []string{"ebpf", "scan"}
	if v := os.Getenv("OSR_BENCH_TRACKERS"); v != "" {
		trackers = strings.Fields(v)
	}
	for _, tr := range trackers {
		b.Run(tr, func(b *testing.B) {
			dir := b.TempDir()
			dev, mnt := ext4DeviceSize(b, dir, 2<<30)
			ps := startPS(b, dir)
			cfg := &Config{Machine: "web01", ProcessServer: ps.addr, TLS: ps.tls, StateDir: filepath.Join(dir, "state"),
				Disks: []Disk{{Name: "sdb", Path: dev}}, Tracker: tr, CrashConsistentInterval: time.Hour, AppConsistentInterval: 2 * time.Hour,
				FreezeTimeout: 30 * time.Second, InitialPointSize: 256 << 20, MemoryBuffer: 16 << 20, LogLevel: "info"}
			cfg.Hooks.Timeout = 10 * time.Second
			if err := cfg.check(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { ebpf.RemovePins(cfg.Machine) })
			freezes := make(chan Event, 1024)
			a, err := New(cfg, Options{BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
				Observe: func(e Event) {
					if e.Kind == "freeze" {
						select {
						case freezes <- e:
						default:
						}
					}
				}})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx) }()
			defer func() { cancel(); <-done; a.Close() }()
			deadline := time.Now().Add(5 * time.Minute)
			for !a.initialDone() {
				if time.Now().After(deadline) {
					b.Fatal("initial replication did not end")
				}
				time.Sleep(50 * time.Millisecond)
			}
			w := startWorkload(b, mnt)
			defer w.finish(b)
			time.Sleep(time.Second)
			b.ResetTimer()
			var total, frozen time.Duration
			for range b.N {
				for len(freezes) > 0 {
					<-freezes
				}
				start := time.Now()
				res, err := a.FinalSync(ctx, false)
				if err != nil {
					b.Fatal(err)
				}
				took := time.Since(start)
				var fz time.Duration
				select {
				case e := <-freezes:
					fz, _ = time.ParseDuration(e.Attrs["duration"])
				default:
				}
				total, frozen = total+took, frozen+fz
				fmt.Printf("final sync %-4s 2 GiB ext4 under an fsync workload: %v to point seq %d, freeze %v, %d files acknowledged so far\n",
					tr, took.Round(time.Millisecond), res.Seq, fz, w.acked.Load())
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/final-sync")
			b.ReportMetric(float64(frozen.Milliseconds())/float64(b.N), "ms-frozen")
		})
	}
}
