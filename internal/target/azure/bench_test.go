//go:build linux

package azure_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/target/azure"
)

// countingTransport counts the page writes (Put Page requests) it carries.
type countingTransport struct {
	puts atomic.Int64
}

func (c *countingTransport) Do(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.URL.Query().Get("comp") == "page" {
		c.puts.Add(1)
	}
	return http.DefaultClient.Do(r)
}

// benchImage returns the 2 GiB ext4 test image (scripts/mkimage.sh: a fully allocated file
// system about 87% full of files from /usr), building it when it is not there yet.
// OSR_BENCH_IMAGE names another image.
func benchImage(b *testing.B) string {
	if p := os.Getenv("OSR_BENCH_IMAGE"); p != "" {
		return p
	}
	p := "/var/tmp/osr-bench/image-2G.raw" // where the other benchmarks of the tree keep it
	if st, err := os.Stat(p); err == nil && st.Size() == 2<<30 {
		return p
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("building %s with scripts/mkimage.sh (a few minutes, once)", p)
	out, err := exec.Command(filepath.Join(root, "scripts", "mkimage.sh"), p, "2G").CombinedOutput()
	if err != nil {
		b.Fatalf("scripts/mkimage.sh: %v\n%s", err, out)
	}
	return p
}

// BenchmarkUpload2GiB uploads the 2 GiB ext4 test image to Azurite as a page blob and reports
// the disk's MB/s, the MiB written and skipped as zero pages, and the page writes, for a few
// settings of the zero gap and the workers. Run it with the test servers started:
//
//	scripts/services.sh start && source "$(scripts/services.sh env)"
//	go test -run XXX -bench Upload2GiB -benchtime 1x ./internal/target/azure/
func BenchmarkUpload2GiB(b *testing.B) {
	img := benchImage(b)
	for _, s := range []struct {
		gap, workers int
	}{{64 << 10, 8}, {512, 8}, {64 << 10, 4}, {1 << 20, 8}} {
		b.Run(fmt.Sprintf("gap=%s/workers=%d", size(s.gap), s.workers), func(b *testing.B) {
			for i := range b.N {
				cfg, _ := azuriteConfig(b)
				cfg.MinZeroGap, cfg.Workers = s.gap, s.workers
				tr := &countingTransport{}
				p, err := azure.New(cfg, azure.Deps{Transport: tr})
				if err != nil {
					b.Fatal(err)
				}
				disk := openDisk(b, "sda", img)
				req := target.Request{Run: fmt.Sprintf("bench-%d", i), Definition: definition(disk), Disks: []target.Disk{disk}}
				start := time.Now()
				res, err := p.Create(b.Context(), req, nil)
				if err != nil {
					b.Fatal(err)
				}
				secs := time.Since(start).Seconds()
				b.ReportMetric(float64(disk.size)/1e6/secs, "disk-MB/s")
				b.ReportMetric(float64(res.BytesWritten)/1e6/secs, "sent-MB/s")
				b.ReportMetric(float64(res.BytesWritten)/(1<<20), "written-MiB")
				b.ReportMetric(float64(res.BytesSkipped)/(1<<20), "zero-skipped-MiB")
				b.ReportMetric(float64(tr.puts.Load()), "page-writes")
			}
		})
	}
}

func size(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return strings.TrimSpace(fmt.Sprintf("%dB", n))
}

// BenchmarkFailoverFromStore2GiB is the failover the provider runs: the 2 GiB ext4 image is
// committed to a file:// store first (not timed), then Create reads the point from the store
// (decrypted, decompressed and verified) and uploads it to Azurite with the default settings.
//
//	go test -run XXX -bench FailoverFromStore2GiB -benchtime 1x ./internal/target/azure/
func BenchmarkFailoverFromStore2GiB(b *testing.B) {
	img := benchImage(b)
	dir := os.Getenv("OSR_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	repo := filepath.Join(dir, "repo")
	os.RemoveAll(repo)
	pt, disks := commitImage(b, repo, img)
	b.ResetTimer()
	for i := range b.N {
		cfg, _ := azuriteConfig(b)
		tr := &countingTransport{}
		p, err := azure.New(cfg, azure.Deps{Transport: tr})
		if err != nil {
			b.Fatal(err)
		}
		def := definition(disks...)
		def.PointID = pt.ID
		start := time.Now()
		res, err := p.Create(b.Context(), target.Request{Run: fmt.Sprintf("bench-%d", i), Definition: def, Disks: disks}, nil)
		if err != nil {
			b.Fatal(err)
		}
		secs := time.Since(start).Seconds()
		b.ReportMetric(float64(disks[0].Size())/1e6/secs, "disk-MB/s")
		b.ReportMetric(float64(res.BytesWritten)/(1<<20), "written-MiB")
		b.ReportMetric(float64(res.BytesSkipped)/(1<<20), "zero-skipped-MiB")
		b.ReportMetric(float64(tr.puts.Load()), "page-writes")
	}
	os.RemoveAll(repo)
}
