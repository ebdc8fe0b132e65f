package processserver

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/wire"
)

// BenchmarkIngest50: 50 agents on real TLS sockets, each sending a full point of a small disk and
// then incremental points, into one process server with a file store. Reports aggregate MB/s of
// block data from first byte to last commit, and the server process's peak RSS.
func BenchmarkIngest50(b *testing.B) {
	const agents = 50
	diskSize := 8 << 20
	if s := os.Getenv("OSR_BENCH_DISK_MIB"); s != "" {
		fmt.Sscan(s, &diskSize)
		diskSize <<= 20
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b, 0, nil)
		e.start()
		ids := make([]*pki.Identity, agents)
		disks := make([]*disk, agents)
		for i := range ids {
			ids[i] = e.identity(pki.RoleAgent, fmt.Sprintf("m%02d", i))
			disks[i] = newDisk("sda", diskSize, uint64(i+1))
		}
		var peak int64
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
					peak = max(peak, rss())
				}
			}
		}()
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, agents)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- ingestOne(b, e, ids[i], fmt.Sprintf("m%02d", i), disks[i])
			}()
		}
		wg.Wait()
		took := time.Since(start)
		b.StopTimer()
		close(stop)
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		total := float64(agents) * float64(diskSize+64*4096)
		b.ReportMetric(total/took.Seconds()/1e6, "MB/s")
		b.ReportMetric(float64(peak)/(1<<20), "peakRSS-MiB")
		b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines-after")
		e.stop()
	}
}

// ingestOne sends a full point and an incremental one of 64 changed blocks and waits for both
// commits.
func ingestOne(b *testing.B, e *env, id *pki.Identity, name string, d *disk) error {
	c, err := e.dial(id)
	if err != nil {
		return err
	}
	defer c.conn.Close()
	if err := c.hello(wire.Hello{Machine: name, Disks: []wire.Disk{{Name: "sda", Size: d.size()}}}); err != nil {
		return err
	}
	if err := c.sendPoint(1, 0, wire.KindCrash, []*disk{d}, []change{{disk: d, first: 0, n: d.blocks()}}, nil); err != nil {
		return err
	}
	for i := 0; i < 64; i++ {
		d.data[i*4096*3] ^= 0xff
	}
	var changes []change
	for i := uint64(0); i < 64; i++ {
		changes = append(changes, change{disk: d, first: i * 3, n: 1})
	}
	if err := c.sendPoint(2, 1, wire.KindCrash, []*disk{d}, changes, nil); err != nil {
		return err
	}
	committed := 0
	for committed < 2 {
		f, err := c.next()
		if err != nil {
			return err
		}
		switch f.Type {
		case wire.TypeCommitted:
			committed++
		case wire.TypeDurable:
		default:
			return fmt.Errorf("%s: unexpected %s", name, f.Type)
		}
	}
	return nil
}
