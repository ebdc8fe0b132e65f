//go:build linux

package azure_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/target/targettest"
)

// commitImage commits the image file as disk sda of a point of machine web01 in a new file://
// store under dir, writing every 1 MiB piece that is not all zeros (zero blocks inside a piece
// are written as they are), and opens the point's disks.
func commitImage(t testing.TB, dir, img string) (*store.Point, []target.Disk) {
	t.Helper()
	ctx := context.Background()
	r, err := targettest.NewStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	pt, disks, err := targettest.CommitImage(ctx, r, img, 1<<20, store.CommitMeta{Time: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return pt, disks
}

// TestCreateFromStorePoint uploads a recovery point read from the vault's store: the blob holds
// the disk as it was at the point, and the zero blocks the point holds are not written.
func TestCreateFromStorePoint(t *testing.T) {
	cfg, c := azuriteConfig(t)
	cfg.MinZeroGap = 4096
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.raw")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	// 6 MiB + 2048: data, then 64 KiB of zero blocks inside a written MiB, data, a hole of a MiB,
	// data up to the end (which is not on a store block boundary).
	const size = 6*mib + 2048
	f.Truncate(size)
	writeAt(t, f, randomBytes(2*mib), 0)
	writeAt(t, f, make([]byte, 64<<10), mib)
	writeAt(t, f, randomBytes(mib), 3*mib)
	writeAt(t, f, randomBytes(mib+2048), 5*mib)
	f.Close()
	pt, disks := commitImage(t, filepath.Join(dir, "repo"), img)

	def := definition(disks...)
	def.PointID = pt.ID
	res, err := newProvider(t, cfg).Create(t.Context(), target.Request{Run: "job-9", Definition: def, Disks: disks}, nil)
	if err != nil {
		t.Fatal(err)
	}
	blob := checkBlob(t, c, cfg, res.Disks[0], img)
	qemuImg(t, "compare", "--image-opts", "driver=raw,file.filename="+img,
		"driver=vpc,force_size_calc=current_size,file.filename="+blob)
	want := []target.Extent{{Off: 0, Len: mib}, {Off: mib + 64<<10, Len: mib - 64<<10}, {Off: 3 * mib, Len: mib},
		{Off: 5 * mib, Len: mib + 2048}, {Off: 7 * mib, Len: 512}}
	if got := merged(pageRanges(t, c, blobName(t, cfg, res.Disks[0]))); !reflect.DeepEqual(got, want) {
		t.Errorf("page ranges\n%v, want\n%v", got, want)
	}
	if want := int64(4*mib - 64<<10 + 2048); res.BytesWritten != want || res.BytesSkipped != size-want {
		t.Errorf("written %d, skipped %d, want %d and %d", res.BytesWritten, res.BytesSkipped, want, size-want)
	}
	if md := blobMetadata(t, c, blobName(t, cfg, res.Disks[0])); md["osr_point"] != pt.ID {
		t.Errorf("blob point %q, want %q", md["osr_point"], pt.ID)
	}
}
