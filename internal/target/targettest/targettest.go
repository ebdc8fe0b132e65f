package targettest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"golang.org/x/sync/errgroup"

	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/storage/file"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/target"
)

// Passphrase is the passphrase of the stores this package makes.
const Passphrase = "secret"

// StoreOptions are the options of the stores this package makes: a key derivation cheap enough
// for tests.
func StoreOptions() store.Options {
	return store.Options{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}}
}

// NewStore initializes a file:// store in dir (created when missing).
func NewStore(ctx context.Context, dir string) (*store.Repo, error) {
	be, err := file.Open(dir, file.Options{CreateIfMissing: true})
	if err != nil {
		return nil, err
	}
	return store.Init(ctx, be, []byte(Passphrase), StoreOptions())
}

// CommitImage commits the raw image file img as disk sda of a new point of machine web01 in r,
// writing every piece-sized run of it that is not all zeros (zero blocks inside a written piece
// are written as they are), four at a time, and opens the point's disks.
func CommitImage(ctx context.Context, r *store.Repo, img string, piece int64, meta store.CommitMeta) (*store.Point, []target.Disk, error) {
	f, err := os.Open(img)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	w, err := r.NewWriter(ctx, "web01", nil, []store.DiskSpec{{Name: "sda", Size: st.Size()}})
	if err != nil {
		return nil, nil, err
	}
	var g errgroup.Group
	g.SetLimit(4)
	zero := make([]byte, piece)
	for off := int64(0); off < st.Size(); off += piece {
		g.Go(func() error {
			buf := make([]byte, min(piece, st.Size()-off))
			if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
				return err
			}
			if bytes.Equal(buf, zero[:len(buf)]) {
				return nil
			}
			_, err := w.Disk("sda").WriteAt(buf, off)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, fmt.Errorf("commit %s: %w", img, err)
	}
	pt, err := w.Commit(ctx, meta)
	if err != nil {
		return nil, nil, err
	}
	disks, err := target.OpenStoreDisks(r, pt)
	if err != nil {
		return nil, nil, err
	}
	return pt, disks, nil
}
