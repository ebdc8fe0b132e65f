package failover

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

// BenchmarkFailoverRTO measures the failover job of a machine with one disk of
// OSR_BENCH_DISK_MIB (default 2048) MiB, a third of it data, to the local provider as raw and as
// fixed VHD: start of the job to disks and definition ready, against cp of the same image.
//
//	go test -run XXX -bench FailoverRTO -benchtime 1x ./internal/failover/
func BenchmarkFailoverRTO(b *testing.B) {
	mib := 2048
	if s := os.Getenv("OSR_BENCH_DISK_MIB"); s != "" {
		mib, _ = strconv.Atoi(s)
	}
	size := int64(mib) << 20
	e := newEnv(b, db.SQLite)
	ctx := context.Background()
	// The image: 4 MiB runs, every third one random data (incompressible), the rest zeros.
	img := filepath.Join(e.dir, "source.img")
	f, err := os.Create(img)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	run := make([]byte, 4<<20)
	zero := make([]byte, 4<<20)
	w, err := e.repo.NewWriter(ctx, "web01", nil, []store.DiskSpec{{Name: "sda", Size: size}})
	if err != nil {
		b.Fatal(err)
	}
	for off, i := int64(0), 0; off < size; off, i = off+int64(len(run)), i+1 {
		buf := zero
		if i%3 == 0 {
			for j := 0; j < len(run); j += 8 {
				v := rng.Uint64()
				for k := 0; k < 8; k++ {
					run[j+k] = byte(v >> (8 * k))
				}
			}
			buf = run
			if _, err := w.Disk("sda").WriteAt(buf, off); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := f.WriteAt(buf, off); err != nil { // a fully written file, as cp reads it
			b.Fatal(err)
		}
	}
	f.Sync()
	f.Close()
	pt, err := w.Commit(ctx, store.CommitMeta{Time: e.clk.Now(), Consistency: store.CrashConsistent})
	if err != nil {
		b.Fatal(err)
	}
	exec.Command("sync").Run()

	t0 := time.Now()
	if out, err := exec.Command("cp", img, filepath.Join(e.dir, "copy.img")).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v %s", err, out)
	}
	exec.Command("sync").Run()
	cp := time.Since(t0)
	os.Remove(filepath.Join(e.dir, "copy.img"))

	owner := e.tokens["owner"]
	for _, format := range []string{"raw", "vhd"} {
		e.mustDo("POST", "/vaults/lab/targets", owner, AddTargetRequest{Name: "bench-" + format, Provider: "local", Settings: map[string]string{"dir": filepath.Join(e.dir, "bench-"+format), "format": format}}, 201)
		t0 := time.Now()
		op := e.startOp("web01/failover/test", TestRequest{Point: pt.ID, Target: "bench-" + format})
		j := e.waitJob(op.Job.ID)
		rto := time.Since(t0)
		if j.State != "succeeded" {
			b.Fatalf("job %+v", j)
		}
		st := e.status("web01")
		gibs := float64(size) / (1 << 30)
		b.ReportMetric(rto.Seconds(), "s-rto-"+format)
		fmt.Fprintf(os.Stderr, "failover %s: disk %d MiB (%d MiB data) RTO %.2fs (%.0f MiB/s), written %d MiB, skipped %d MiB; cp of the image %.2fs (%.0f MiB/s); ratio failover/cp throughput %.2f\n",
			format, mib, mib/3+1, rto.Seconds(), gibs*1024/rto.Seconds(), st.Test.Result.BytesWritten>>20, st.Test.Result.BytesSkipped>>20, cp.Seconds(), gibs*1024/cp.Seconds(), cp.Seconds()/rto.Seconds())
		c := e.startOp("web01/failover/test/cleanup", nil)
		e.waitJob(c.Job.ID)
	}
}
