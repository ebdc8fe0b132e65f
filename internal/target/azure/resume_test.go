//go:build linux

package azure_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/target/azure"
)

// makeDense writes a 16 MiB disk: 12 MiB of data, a 2 MiB hole, 2 MiB of data. It returns the
// path and the data extents.
func makeDense(t *testing.T, dir string) (string, []target.Extent) {
	p := filepath.Join(dir, "sda.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(16 * mib); err != nil {
		t.Fatal(err)
	}
	writeAt(t, f, randomBytes(12*mib), 0)
	writeAt(t, f, randomBytes(2*mib), 14*mib)
	return p, []target.Extent{{Off: 0, Len: 12 * mib}, {Off: 14 * mib, Len: 2 * mib}}
}

// resumeConfig makes small windows and frequent watermarks, so that an interrupted upload has
// recorded some.
func resumeConfig(cfg azure.Config) azure.Config {
	cfg.Window, cfg.WatermarkEvery, cfg.Workers = 256<<10, mib, 2
	return cfg
}

// overlap is how many bytes of exts lie in [off, end).
func overlap(exts []target.Extent, off, end int64) int64 {
	var n int64
	for _, e := range exts {
		n += max(min(e.Off+e.Len, end)-max(e.Off, off), 0)
	}
	return n
}

// interrupted checks the state an interrupted upload left: an incomplete blob with a watermark
// past the start. It returns the watermark and the bytes written above it.
func interrupted(t *testing.T, c *container.Client, name string, size int64) (int64, int64) {
	t.Helper()
	md := blobMetadata(t, c, name)
	if md["osr_complete"] != "" {
		t.Fatalf("the interrupted blob is marked complete: %v", md)
	}
	wm, err := strconv.ParseInt(md["osr_watermark"], 10, 64)
	if err != nil || wm <= 0 || wm >= size {
		t.Fatalf("watermark %q after the interruption, want one inside the disk (metadata %v)", md["osr_watermark"], md)
	}
	var above int64
	for _, r := range pageRanges(t, c, name) {
		if r.Off >= size {
			t.Fatalf("page range %v past the disk: the footer is written before the data is done", r)
		}
		above += overlap([]target.Extent{r}, wm, size)
	}
	return wm, above
}

// resumed runs Create again and checks that it sent only what was missing: the data above the
// watermark that the blob did not hold, read from the watermark on.
func resumed(t *testing.T, c *container.Client, cfg azure.Config, req target.Request, src string, exts []target.Extent, wm, above int64) {
	t.Helper()
	disk := req.Disks[0].(*fileDisk)
	disk.reads.Store(0)
	disk.delay = 0
	res, err := newProvider(t, resumeConfig(cfg)).Create(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	data := overlap(exts, 0, disk.size)
	if want := data - overlap(exts, 0, wm) - above; res.BytesWritten != want {
		t.Errorf("the resumed upload wrote %d bytes, want %d (data %d, watermark %d, %d bytes already above it)",
			res.BytesWritten, want, data, wm, above)
	}
	if res.BytesWritten >= data {
		t.Errorf("the resumed upload wrote %d bytes of %d: it started over", res.BytesWritten, data)
	}
	if n, most := disk.reads.Load(), overlap(exts, wm, disk.size); n > most {
		t.Errorf("the resumed upload read %d bytes, more than the %d above the watermark", n, most)
	}
	t.Logf("watermark %d, %d bytes already above it; the resumed upload wrote %d of %d data bytes", wm, above, res.BytesWritten, data)
	blob := checkBlob(t, c, cfg, res.Disks[0], src)
	qemuImg(t, "compare", "--image-opts", "driver=raw,file.filename="+src,
		"driver=vpc,force_size_calc=current_size,file.filename="+blob)
	if md := blobMetadata(t, c, blobName(t, cfg, res.Disks[0])); md["osr_complete"] != "true" {
		t.Errorf("resumed blob metadata %v, want complete", md)
	}
}

func TestResumeAfterCancel(t *testing.T) {
	cfg, c := azuriteConfig(t)
	src, exts := makeDense(t, t.TempDir())
	disk := openDisk(t, "sda", src)
	disk.delay = 5 * time.Millisecond
	req := target.Request{Run: "job-2", Definition: definition(disk), Disks: []target.Disk{disk}}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p := newProvider(t, resumeConfig(cfg))
	partial, err := p.Create(ctx, req, func(done, total int64) {
		if done >= 10*mib {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted create: %v, want context.Canceled", err)
	}
	time.Sleep(200 * time.Millisecond) // requests the service was still reading when they were cancelled
	name := "web01-job-2/sda.vhd"
	wm, above := interrupted(t, c, name, disk.size)
	resumed(t, c, cfg, req, src, exts, wm, above)

	// The result of the failed Create names what it made: Remove cleans it all up.
	if partial.Location != cfg.ContainerURL+"/web01-job-2" || len(partial.Disks) != 1 {
		t.Fatalf("result of the interrupted create: %+v", partial)
	}
	if err := p.Remove(t.Context(), partial); err != nil {
		t.Fatal(err)
	}
	if got := listBlobs(t, c); len(got) != 0 {
		t.Errorf("after remove: %v", got)
	}
}

// TestResumeAfterKill kills a process uploading a disk with SIGKILL halfway and resumes the
// upload in this one.
func TestResumeAfterKill(t *testing.T) {
	cfg, c := azuriteConfig(t)
	dir := t.TempDir()
	src, exts := makeDense(t, dir)
	if _, err := c.Create(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.v")
	cmd.Env = append(os.Environ(), "OSR_AZURE_KILL_CHILD="+cfg.ContainerURL, "OSR_AZURE_KILL_SOURCE="+src)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		done, ok := strings.CutPrefix(sc.Text(), "progress ")
		if n, _ := strconv.ParseInt(done, 10, 64); ok && n >= 9*mib {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
			break
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("the child ended before it was killed: %v", err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child ended with %v, not by SIGKILL", cmd.ProcessState)
	}
	name := "web01-job-3/sda.vhd"
	wm, above := interrupted(t, c, name, 16*mib)
	disk := openDisk(t, "sda", src)
	req := target.Request{Run: "job-3", Definition: definition(disk), Disks: []target.Disk{disk}}
	resumed(t, c, cfg, req, src, exts, wm, above)
}

// TestKillChild is the process TestResumeAfterKill kills: it uploads slowly and prints its
// progress. It does nothing in a normal test run.
func TestKillChild(t *testing.T) {
	url := os.Getenv("OSR_AZURE_KILL_CHILD")
	if url == "" {
		return
	}
	cfg, _ := azuriteConfig(t)
	cfg.ContainerURL, cfg.CreateContainer = url, false
	disk := openDisk(t, "sda", os.Getenv("OSR_AZURE_KILL_SOURCE"))
	disk.delay = 5 * time.Millisecond
	req := target.Request{Run: "job-3", Definition: definition(disk), Disks: []target.Disk{disk}}
	_, err := newProvider(t, resumeConfig(cfg)).Create(t.Context(), req, func(done, total int64) {
		fmt.Printf("progress %d\n", done)
	})
	t.Fatalf("the upload was not killed: %v", err)
}
