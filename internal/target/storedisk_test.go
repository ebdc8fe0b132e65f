package target

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/storage/file"
	"github.com/opensiterecovery/osr/internal/store"
)

// commitImage commits img as disk "sda" of machine "web01" in a new file:// store and returns
// the store and the point.
func commitImage(t *testing.T, img []byte) (*store.Repo, *store.Point) {
	t.Helper()
	ctx := context.Background()
	be, err := file.Open(filepath.Join(t.TempDir(), "repo"), file.Options{CreateIfMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := store.Options{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}, PackSize: 1 << 20}
	r, err := store.Init(ctx, be, []byte("secret"), opts)
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.NewWriter(ctx, "web01", nil, []store.DiskSpec{{Name: "sda", Size: int64(len(img))}, {Name: "sdb", Size: 8192}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Disk("sda").WriteAt(img, 0); err != nil {
		t.Fatal(err)
	}
	pt, err := w.Commit(ctx, store.CommitMeta{})
	if err != nil {
		t.Fatal(err)
	}
	return r, pt
}

func fill(img []byte, off, n int, c byte) {
	for i := off; i < off+n; i++ {
		img[i] = c + byte(i%7)
	}
}

func TestStoreDisk(t *testing.T) {
	const bs = store.BlockSize
	size := 40*bs + 1000 // not a whole number of blocks
	img := make([]byte, size)
	fill(img, 0, bs, 'a')         // block 0
	fill(img, 2*bs+100, 10, 'b')  // block 2 (partly)
	fill(img, 3*bs, 2*bs, 'c')    // blocks 3, 4: merged with 2
	fill(img, 20*bs+4095, 2, 'd') // blocks 20 and 21, across a block boundary
	fill(img, 33*bs, 1, 'e')      // block 33: the second leaf
	fill(img, 40*bs+999, 1, 'f')  // last byte of the short last block
	r, pt := commitImage(t, img)
	disks, err := OpenStoreDisks(r, pt)
	if err != nil {
		t.Fatal(err)
	}
	if len(disks) != 2 || disks[0].Name() != "sda" || disks[1].Name() != "sdb" {
		t.Fatalf("disks %v", disks)
	}
	d := disks[0]
	if d.Size() != int64(size) {
		t.Fatalf("size %d, want %d", d.Size(), size)
	}
	ext, err := d.DataExtents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Extent{{0, bs}, {2 * bs, 3 * bs}, {20 * bs, 2 * bs}, {33 * bs, bs}, {40 * bs, 1000}}
	if !reflect.DeepEqual(ext, want) {
		t.Fatalf("extents %v, want %v", ext, want)
	}
	// An unwritten disk has no extents.
	if ext, err := disks[1].DataExtents(context.Background()); err != nil || len(ext) != 0 {
		t.Fatalf("extents of an empty disk: %v, %v", ext, err)
	}
	got, err := io.ReadAll(io.NewSectionReader(d, 0, d.Size()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, img) {
		t.Fatal("ReadAt differs from the image")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "sda.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(bytes.Repeat([]byte{0xff}, 2*size)); err != nil { // stale content
		t.Fatal(err)
	}
	var done int64
	if err := d.(RawExporter).ExportRaw(context.Background(), f, func(n int64) { done += n }); err != nil {
		t.Fatal(err)
	}
	if done != int64(size) {
		t.Fatalf("progress %d, want %d", done, size)
	}
	raw, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, img) {
		t.Fatalf("export differs from the image (%d bytes, want %d)", len(raw), len(img))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.(RawExporter).ExportRaw(ctx, f, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("ExportRaw with a cancelled context: %v", err)
	}
}
