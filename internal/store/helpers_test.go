package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/storage"
	"github.com/opensiterecovery/osr/internal/storage/file"
)

var testKDF = crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}

func testOptions() Options {
	return Options{KDF: testKDF, PackSize: 1 << 20}
}

func newFileBackend(t *testing.T, dir string) storage.Backend {
	t.Helper()
	be, err := file.Open(dir, file.Options{CreateIfMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	return be
}

func newTestRepo(t *testing.T) (*Repo, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	r, err := Init(context.Background(), newFileBackend(t, dir), []byte("secret"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	return r, dir
}

// reopenRepo opens the store of newTestRepo again, as another process would.
func reopenRepo(t *testing.T, dir string) *Repo {
	t.Helper()
	r, err := Open(context.Background(), newFileBackend(t, dir), []byte("secret"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// randomImage returns an image of size bytes with data, zero blocks and compressible blocks mixed.
func randomImage(seed uint64, size int) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	img := make([]byte, size)
	for off := 0; off < size; off += BlockSize {
		end := min(off+BlockSize, size)
		switch rng.IntN(4) {
		case 0: // zeros
		case 1:
			for i := off; i < end; i++ {
				img[i] = byte(rng.IntN(256))
			}
		default:
			for i := off; i < end; i++ {
				img[i] = "abcdefgh"[rng.IntN(8)]
			}
		}
	}
	return img
}

func putImage(t *testing.T, r *Repo, machine string, parent *Point, disks map[string][]byte) *Point {
	t.Helper()
	ctx := context.Background()
	var specs []DiskSpec
	for name, img := range disks {
		specs = append(specs, DiskSpec{Name: name, Size: int64(len(img))})
	}
	w, err := r.NewWriter(ctx, machine, parent, specs)
	if err != nil {
		t.Fatal(err)
	}
	for name, img := range disks {
		if _, err := w.Disk(name).WriteAt(img, 0); err != nil {
			t.Fatal(err)
		}
	}
	pt, err := w.Commit(ctx, CommitMeta{})
	if err != nil {
		t.Fatal(err)
	}
	return pt
}

func exportDisk(t *testing.T, r *Repo, pt *Point, disk string) []byte {
	t.Helper()
	dr, err := r.OpenDisk(pt, disk)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := dr.Export(context.Background(), f, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(io.NewSectionReader(f, 0, dr.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s differs: len %d vs %d, first difference at %d (sha %x vs %x)", what, len(got), len(want), i, sha256.Sum256(got), sha256.Sum256(want))
	}
}
