//go:build linux

package azure_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"
	"golang.org/x/sys/unix"

	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/target/azure"
)

// fileDisk is a target.Disk on a (sparse) file: its data extents are what SEEK_DATA finds.
type fileDisk struct {
	name string
	f    *os.File
	size int64
	// delay is slept before each read (to make an upload slow enough to interrupt).
	delay time.Duration
	reads atomic.Int64 // bytes read
}

func openDisk(t testing.TB, name, path string) *fileDisk {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return &fileDisk{name: name, f: f, size: st.Size()}
}

func (d *fileDisk) Name() string { return d.name }
func (d *fileDisk) Size() int64  { return d.size }

func (d *fileDisk) ReadAt(p []byte, off int64) (int, error) {
	if d.delay > 0 {
		time.Sleep(d.delay)
	}
	n, err := d.f.ReadAt(p, off)
	d.reads.Add(int64(n))
	return n, err
}

func (d *fileDisk) DataExtents(ctx context.Context) ([]target.Extent, error) {
	var out []target.Extent
	fd := int(d.f.Fd())
	for off := int64(0); off < d.size; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break
		}
		if err != nil {
			return nil, err
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			return nil, err
		}
		out = append(out, target.Extent{Off: start, Len: end - start})
		off = end
	}
	return out, nil
}

// azuriteConfig returns a provider configuration on a fresh container of the Azurite that
// scripts/services.sh started, failing the test when there is none, and removes the container
// after the test.
func azuriteConfig(t testing.TB) (azure.Config, *container.Client) {
	t.Helper()
	account, key, endpoint := os.Getenv("AZURE_STORAGE_ACCOUNT"), os.Getenv("AZURE_STORAGE_KEY"), os.Getenv("AZURE_STORAGE_ENDPOINT")
	if os.Getenv("OSR_TEST_AZURITE") != "1" || account == "" || key == "" || endpoint == "" {
		t.Fatal("no Azurite to test against: OSR_TEST_AZURITE=1, AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY " +
			"and AZURE_STORAGE_ENDPOINT must be set. Start the test servers and load their environment with\n" +
			"\tscripts/services.sh start && source \"$(scripts/services.sh env)\"")
	}
	b := make([]byte, 6)
	rand.Read(b)
	cfg := azure.Config{
		ContainerURL:    strings.TrimSuffix(endpoint, "/") + fmt.Sprintf("/failover-%x", b),
		Account:         account,
		Key:             key,
		CreateContainer: true,
	}
	cred, err := container.NewSharedKeyCredential(account, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := container.NewClientWithSharedKeyCredential(cfg.ContainerURL, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Delete(context.Background(), nil) })
	return cfg, c
}

func newProvider(t testing.TB, cfg azure.Config) *azure.Provider {
	t.Helper()
	p, err := azure.New(cfg, azure.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// blobName returns the blob's name in the container from its URL.
func blobName(t testing.TB, cfg azure.Config, url string) string {
	t.Helper()
	name, ok := strings.CutPrefix(url, cfg.ContainerURL+"/")
	if !ok {
		t.Fatalf("blob URL %s is not in container %s", url, cfg.ContainerURL)
	}
	return name
}

// download reads a whole blob into a file in dir and returns its bytes and path.
func download(t testing.TB, c *container.Client, name, dir string) ([]byte, string) {
	t.Helper()
	bc := c.NewBlobClient(name)
	props, err := bc.GetProperties(context.Background(), nil)
	if err != nil {
		t.Fatalf("get properties of %s: %v", name, err)
	}
	buf := make([]byte, *props.ContentLength)
	if _, err := bc.DownloadBuffer(context.Background(), buf, nil); err != nil {
		t.Fatalf("download %s: %v", name, err)
	}
	p := filepath.Join(dir, strings.ReplaceAll(name, "/", "_"))
	if err := os.WriteFile(p, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	return buf, p
}

// pageRanges returns the written pages of a page blob, [start, end) each.
func pageRanges(t testing.TB, c *container.Client, name string) []target.Extent {
	t.Helper()
	var out []target.Extent
	pager := c.NewPageBlobClient(name).NewGetPageRangesPager(&pageblob.GetPageRangesOptions{})
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatalf("page ranges of %s: %v", name, err)
		}
		for _, r := range page.PageRange {
			out = append(out, target.Extent{Off: *r.Start, Len: *r.End + 1 - *r.Start})
		}
	}
	return out
}

// blobMetadata returns a blob's metadata with lower-case names.
func blobMetadata(t testing.TB, c *container.Client, name string) map[string]string {
	t.Helper()
	props, err := c.NewBlobClient(name).GetProperties(context.Background(), nil)
	if err != nil {
		t.Fatalf("get properties of %s: %v", name, err)
	}
	out := map[string]string{}
	for k, v := range props.Metadata {
		if v != nil {
			out[strings.ToLower(k)] = *v
		}
	}
	return out
}

// listBlobs returns the names of the container's blobs.
func listBlobs(t testing.TB, c *container.Client) []string {
	t.Helper()
	var out []string
	pager := c.NewListBlobsFlatPager(nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list blobs: %v", err)
		}
		for _, b := range page.Segment.BlobItems {
			out = append(out, *b.Name)
		}
	}
	return out
}

// qemuImg runs qemu-img, failing the test when it is missing or fails.
func qemuImg(t testing.TB, args ...string) string {
	t.Helper()
	p, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Fatal("qemu-img not found: install it with apt-get install qemu-utils")
	}
	out, err := exec.Command(p, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// writeAt writes b into the file at off.
func writeAt(t testing.TB, f *os.File, b []byte, off int64) {
	t.Helper()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// randomBytes returns n random bytes with no all-zero 512-byte page.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	for i := 0; i < n; i += 512 {
		b[i] |= 1
	}
	return b
}

func isZero(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }

var _ io.ReaderAt = (*fileDisk)(nil)
