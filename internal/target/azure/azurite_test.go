//go:build linux

package azure_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/target/azure"
	"github.com/opensiterecovery/osr/internal/target/vhd"
)

const mib = 1 << 20

// layout is a source disk with data, zeros written inside its data extents, and holes, and the
// page ranges its blob must hold (with a 4 KiB minimum zero gap), footer included.
type layout struct {
	path  string
	size  int64
	pages []target.Extent
}

// makeSDA writes the test's first disk (20 MiB + 1000 bytes, not a whole number of pages):
//
//	[0, 1M)             data
//	[1M, 3M)            hole
//	[3M, 3.5M)          zeros written (allocated: inside a data extent)
//	[3.5M, +700)        data, ending inside a page; the rest of its file-system block is zeros
//	4M: 8K data, 1K zeros (written: shorter than the gap), 8K data, 8K zeros (skipped), 8K data
//	[10M-100, 14M+300)  data across several windows, starting and ending inside pages
//	[20M, 20M+1000)     data up to the disk's end
func makeSDA(t *testing.T, dir string) layout {
	const size = 20*mib + 1000
	p := filepath.Join(dir, "sda.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	writeAt(t, f, randomBytes(mib), 0)
	writeAt(t, f, make([]byte, mib/2), 3*mib)
	writeAt(t, f, randomBytes(700), 3*mib+mib/2)
	k := int64(1024)
	writeAt(t, f, randomBytes(8*1024), 4*mib)
	writeAt(t, f, make([]byte, 1024), 4*mib+8*k)
	writeAt(t, f, randomBytes(8*1024), 4*mib+9*k)
	writeAt(t, f, make([]byte, 8*1024), 4*mib+17*k)
	writeAt(t, f, randomBytes(8*1024), 4*mib+25*k)
	writeAt(t, f, randomBytes(4*mib+400), 10*mib-100)
	writeAt(t, f, randomBytes(1000), 20*mib)
	return layout{path: p, size: size, pages: []target.Extent{
		{Off: 0, Len: mib},
		{Off: 3*mib + mib/2, Len: 1024},
		{Off: 4 * mib, Len: 17 * k},
		{Off: 4*mib + 25*k, Len: 8 * k},
		{Off: 10*mib - 512, Len: 4*mib + 1024},
		{Off: 20 * mib, Len: 1024},
		{Off: 21 * mib, Len: 512}, // the footer at the aligned size
	}}
}

// makeSparse writes a disk that is all hole.
func makeSparse(t *testing.T, dir, name string, size int64) string {
	p := filepath.Join(dir, name+".raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return p
}

// merged joins touching ranges (the service may report adjacent writes apart).
func merged(in []target.Extent) []target.Extent {
	var out []target.Extent
	for _, e := range in {
		if n := len(out); n > 0 && out[n-1].Off+out[n-1].Len == e.Off {
			out[n-1].Len += e.Len
			continue
		}
		out = append(out, e)
	}
	return out
}

func definition(disks ...target.Disk) target.Definition {
	def := target.Definition{Version: 1, Name: "web01", Source: "web01", PointID: "p-17", PointAt: "2026-05-01T10:00:00Z",
		OS: "linux", Firmware: "bios", CPUs: 2, MemoryMB: 4096,
		NICs: []target.NIC{{Name: "eth0", SourceNetwork: "lan", Network: "vnet-dr/app", IPMode: "static", Address: "10.1.0.9/24"}}}
	for _, d := range disks {
		def.Disks = append(def.Disks, target.DefinitionDisk{Name: d.Name(), SizeBytes: d.Size()})
	}
	return def
}

// checkBlob downloads a disk's blob and checks it byte by byte against the source: the disk,
// zeros up to the aligned size, and a fixed-VHD footer of that size. It returns the download's
// path.
func checkBlob(t *testing.T, c *container.Client, cfg azure.Config, url, src string) string {
	t.Helper()
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	got, path := download(t, c, blobName(t, cfg, url), t.TempDir())
	aligned := vhd.AlignedSize(int64(len(want)))
	if int64(len(got)) != aligned+vhd.FooterSize {
		t.Fatalf("blob %s has %d bytes, want %d", url, len(got), aligned+vhd.FooterSize)
	}
	if !bytes.Equal(got[:len(want)], want) {
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("blob %s differs from the disk at byte %d", url, i)
			}
		}
	}
	if !isZero(got[len(want):aligned]) {
		t.Fatalf("blob %s: the padding after the disk is not zeros", url)
	}
	f, err := vhd.ParseFooter(got[aligned:])
	if err != nil {
		t.Fatalf("blob %s: footer: %v", url, err)
	}
	if f.CurrentSize != uint64(aligned) || f.OriginalSize != uint64(aligned) || f.DiskType != vhd.DiskTypeFixed ||
		f.Geometry != vhd.ComputeGeometry(aligned) {
		t.Fatalf("blob %s: footer %+v, want a fixed disk of %d bytes", url, f, aligned)
	}
	return path
}

func TestCreate(t *testing.T) {
	cfg, c := azuriteConfig(t)
	cfg.Window, cfg.MinZeroGap, cfg.Prefix = mib, 4096, "failovers/site-a"
	created := time.Date(2026, 5, 1, 10, 30, 0, 0, time.UTC)
	p, err := azure.New(cfg, azure.Deps{Clock: clock.NewFake(created)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sda := makeSDA(t, dir)
	sdbPath := makeSparse(t, dir, "sdb", 3*mib)
	disks := []target.Disk{openDisk(t, "sda", sda.path), openDisk(t, "sdb", sdbPath)}
	req := target.Request{Run: "job-1", Definition: definition(disks...), Disks: disks}
	total := sda.size + 3*mib

	var mu sync.Mutex
	var last, calls int64
	res, err := p.Create(t.Context(), req, func(done, tot int64) {
		mu.Lock()
		defer mu.Unlock()
		if tot != total || done < 0 || done > tot {
			t.Errorf("progress %d of %d, want of %d", done, tot, total)
		}
		last = max(last, done)
		calls++
	})
	if err != nil {
		t.Fatal(err)
	}
	if last != total || calls < 4 {
		t.Errorf("progress reached %d of %d in %d calls", last, total, calls)
	}
	base := cfg.ContainerURL + "/failovers/site-a/web01-job-1"
	wantRes := target.Result{Provider: "azure", Location: base, Disks: []string{base + "/sda.vhd", base + "/sdb.vhd"},
		DefinitionFile: base + "/template.json"}
	var wantWritten int64
	for _, e := range sda.pages[:len(sda.pages)-1] {
		wantWritten += e.Len
	}
	wantWritten -= 24 // the last page's bytes beyond the disk's end
	wantRes.BytesWritten, wantRes.BytesSkipped = wantWritten, total-wantWritten
	if !reflect.DeepEqual(res, wantRes) {
		t.Fatalf("result\n%+v, want\n%+v", res, wantRes)
	}

	// Byte-exact blobs, and only the non-zero pages (and the footer) written.
	sdaBlob := checkBlob(t, c, cfg, res.Disks[0], sda.path)
	checkBlob(t, c, cfg, res.Disks[1], sdbPath)
	if got := merged(pageRanges(t, c, blobName(t, cfg, res.Disks[0]))); !reflect.DeepEqual(got, sda.pages) {
		t.Errorf("sda page ranges\n%v, want\n%v", got, sda.pages)
	}
	if got, want := pageRanges(t, c, blobName(t, cfg, res.Disks[1])), []target.Extent{{Off: 3 * mib, Len: 512}}; !reflect.DeepEqual(got, want) {
		t.Errorf("sdb page ranges %v, want only the footer %v", got, want)
	}
	// The footer's time is the blob's creation on the provider's clock.
	blobBytes, err := os.ReadFile(sdaBlob)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := vhd.ParseFooter(blobBytes[len(blobBytes)-vhd.FooterSize:]); !f.Time().Equal(created) || f.UniqueID[6]>>4 != 8 {
		t.Errorf("footer time %v, want %v; unique id %x, want a version 8 UUID", f.Time(), created, f.UniqueID)
	}
	md := blobMetadata(t, c, blobName(t, cfg, res.Disks[0]))
	for k, v := range map[string]string{"osr_run": "job-1", "osr_created": strconv.FormatInt(created.Unix(), 10), "osr_point": "p-17", "osr_disk": "sda", "osr_complete": "true",
		"osr_disk_size": strconv.FormatInt(sda.size, 10), "osr_format": "1"} {
		if md[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, md[k], v)
		}
	}

	// qemu-img reads the blob as a fixed VHD of the aligned size holding the source disk.
	info := qemuImg(t, "info", "--output=json", "--image-opts", "driver=vpc,force_size_calc=current_size,file.filename="+sdaBlob)
	if want := `"virtual-size": ` + strconv.Itoa(21*mib) + ","; !strings.Contains(info, want) || !strings.Contains(info, `"format": "vpc"`) {
		t.Errorf("qemu-img info:\n%s\nwant a vpc image with %s", info, want)
	}
	qemuImg(t, "compare", "--image-opts", "driver=raw,file.filename="+sda.path,
		"driver=vpc,force_size_calc=current_size,file.filename="+sdaBlob)

	// The template and the definition beside the disks.
	tmpl, _ := download(t, c, blobName(t, cfg, res.DefinitionFile), t.TempDir())
	var tm struct {
		Schema     string `json:"$schema"`
		Parameters map[string]struct {
			DefaultValue any `json:"defaultValue"`
		} `json:"parameters"`
		Resources []struct {
			Type string `json:"type"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(tmpl, &tm); err != nil {
		t.Fatalf("template.json: %v", err)
	}
	var sources []string
	var raw map[string]any
	json.Unmarshal(tmpl, &raw)
	for _, r := range raw["resources"].([]any) {
		r := r.(map[string]any)
		if r["type"] == "Microsoft.Compute/disks" {
			sources = append(sources, r["properties"].(map[string]any)["creationData"].(map[string]any)["sourceUri"].(string))
		}
	}
	if tm.Schema != azure.TemplateSchema || !reflect.DeepEqual(sources, res.Disks) ||
		tm.Parameters["vmSize"].DefaultValue != "Standard_F2s_v2" || len(tm.Resources) != 4 {
		t.Errorf("template: schema %q, disk sources %v, vm size %v, %d resources", tm.Schema, sources, tm.Parameters["vmSize"].DefaultValue, len(tm.Resources))
	}
	defBytes, _ := download(t, c, "failovers/site-a/web01-job-1/"+azure.DefinitionBlob, t.TempDir())
	var def target.Definition
	if err := json.Unmarshal(defBytes, &def); err != nil {
		t.Fatal(err)
	}
	if def.Disks[0].File != res.Disks[0] || def.Disks[0].Format != "page-blob-vhd" || def.Disks[1].SizeBytes != 3*mib || def.PointID != "p-17" {
		t.Errorf("definition.json: %+v", def)
	}

	// The same Run again finds every blob complete: nothing is read or written.
	for _, d := range disks {
		d.(*fileDisk).reads.Store(0)
	}
	again, err := p.Create(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantRes.BytesWritten, wantRes.BytesSkipped = 0, 0
	if !reflect.DeepEqual(again, wantRes) {
		t.Errorf("second create: %+v, want %+v", again, wantRes)
	}
	for _, d := range disks {
		if n := d.(*fileDisk).reads.Load(); n != 0 {
			t.Errorf("second create read %d bytes of %s", n, d.Name())
		}
	}
	checkBlob(t, c, cfg, res.Disks[0], sda.path)

	// Remove deletes the run's blobs and nothing else.
	other := "failovers/site-a/web01-job-10/keep.txt"
	if _, err := c.NewBlockBlobClient(other).UploadBuffer(t.Context(), []byte("keep"), nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Remove(t.Context(), res); err != nil {
		t.Fatal(err)
	}
	if got := listBlobs(t, c); !slices.Equal(got, []string{other}) {
		t.Errorf("after remove the container holds %v, want only %s", got, other)
	}
	if err := p.Remove(t.Context(), res); err != nil {
		t.Errorf("second remove: %v", err)
	}
}

func TestRemoveRefuses(t *testing.T) {
	cfg, _ := azuriteConfig(t)
	p := newProvider(t, cfg)
	tests := []struct {
		res target.Result
		err string
	}{
		{target.Result{Provider: "local", Location: cfg.ContainerURL + "/x-1"}, `azure target: result of provider "local", not azure`},
		{target.Result{Provider: "azure", Location: "http://elsewhere/c/x-1"}, `azure target: location "http://elsewhere/c/x-1" is not in container ` + cfg.ContainerURL},
		{target.Result{Provider: "azure", Location: cfg.ContainerURL + "/"}, `azure target: location "` + cfg.ContainerURL + `/" does not name a run's folder`},
		{target.Result{Provider: "azure", Location: cfg.ContainerURL + "/a/../b"}, `azure target: location "` + cfg.ContainerURL + `/a/../b" does not name a run's folder`},
	}
	for _, tt := range tests {
		if err := p.Remove(context.Background(), tt.res); err == nil || err.Error() != tt.err {
			t.Errorf("remove %+v: %v, want %q", tt.res, err, tt.err)
		}
	}
	// A container that does not exist has nothing to remove.
	if err := p.Remove(context.Background(), target.Result{Provider: "azure", Location: cfg.ContainerURL + "/web01-r1"}); err != nil {
		t.Errorf("remove in a missing container: %v", err)
	}
}
