package ebpf

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/opensiterecovery/osr/internal/directio"
	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// devSource is a device for tracker.Compare: all data, no holes known.
type devSource struct {
	*os.File
	size int64
}

func (d devSource) Size() int64 { return d.size }
func (d devSource) Ranges(fn func(off, length int64, data bool) error) error {
	return fn(0, d.size, true)
}

// BenchmarkDeltaCycle measures one delta cycle (ask the tracker, read and fingerprint what it
// reports) after 1% of a 2 GiB and of a 16 GiB sparse disk changed, and after the same 20 MiB
// changed on both; the scan tracker's cycle (read everything) on the same disks for comparison.
func BenchmarkDeltaCycle(b *testing.B) {
	for b.Loop() {
		for _, gib := range []int64{2, 16} {
			size := gib << 30
			dev := loopDevice(b, size, nil)
			f, err := os.OpenFile(dev, os.O_RDWR|unix.O_DIRECT, 0)
			if err != nil {
				b.Fatal(err)
			}
			tr := startedTB(b, tracker.Disk{Name: "d", Path: dev, Size: size})
			src := devSource{f, size}
			rng := rand.New(rand.NewPCG(uint64(gib), 3))
			buf := directio.AlignedBuffer(4096)
			for i := range buf {
				buf[i] = byte(i + 1)
			}
			cycle := func(c tracker.Changes) (time.Duration, int64) {
				start := time.Now()
				if !c.All {
					var err error
					if c, err = tr.Changes(context.Background(), "d"); err != nil {
						b.Fatal(err)
					}
				}
				st, err := tracker.Compare(context.Background(), src, c, tracker.CompareOptions{
					Base:    func(int64) tracker.Fingerprint { return tracker.Fingerprint{} },
					Changed: func(int64, []byte, []tracker.Fingerprint) error { return nil },
					Zeroed:  func(int64, int64) error { return nil },
				})
				if err != nil {
					b.Fatal(err)
				}
				return time.Since(start), st.ReadBytes
			}
			write := func(n int64) {
				for range n {
					if _, err := f.WriteAt(buf, int64(rng.IntN(int(size/4096)))*4096); err != nil {
						b.Fatal(err)
					}
				}
			}
			cycle(tracker.Changes{})
			d0, _ := cycle(tracker.Changes{})
			for _, n := range []int64{size / 4096 / 100, (2 << 30) / 4096 / 100} {
				write(n)
				d, read := cycle(tracker.Changes{})
				fmt.Printf("delta cycle %2d GiB: %6d blocks written: ebpf %v (read %d MiB); idle cycle %v\n", gib, n, d.Round(time.Millisecond), read>>20, d0.Round(time.Microsecond))
			}
			d, read := cycle(tracker.Changes{All: true})
			fmt.Printf("delta cycle %2d GiB: scan reads everything: %v (read %d MiB)\n", gib, d.Round(time.Millisecond), read>>20)
			f.Close()
		}
	}
}

func startedTB(tb testing.TB, disks ...tracker.Disk) *Tracker {
	tr, err := New(Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := tr.Start(context.Background(), disks, false); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tr.Close() })
	return tr
}

// TestHelperAttach keeps the tracker attached to OSR_TEST_ATTACH (a device) and asks for changes
// every 5 s until interrupted: scripts/bench-ebpf.sh measures fio with it running.
func TestHelperAttach(t *testing.T) {
	dev := os.Getenv("OSR_TEST_ATTACH")
	if dev == "" {
		return
	}
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	size, _ := f.Seek(0, 2)
	f.Close()
	// Run-time statistics of the programs while attached (the kernel counts them only on request).
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close()
	tr := started(t, tracker.Disk{Name: "d", Path: dev, Size: size})
	fmt.Println("attached")
	defer func() {
		for _, p := range []struct {
			name string
			prog *ebpf.Program
		}{{"block_bio_queue", tr.objs.OnBioQueue}, {"block_rq_complete", tr.objs.OnRqComplete}} {
			if st, err := p.prog.Stats(); err == nil && st.RunCount > 0 {
				fmt.Printf("program %s: %d runs, %.0f ns per run\n", p.name, st.RunCount, float64(st.Runtime.Nanoseconds())/float64(st.RunCount))
			}
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGTERM, unix.SIGINT)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-sig:
			return
		case <-tick.C:
			if _, err := tr.Changes(context.Background(), "d"); err != nil {
				t.Fatal(err)
			}
		}
	}
}
