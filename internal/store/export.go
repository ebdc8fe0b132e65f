package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/opensiterecovery/osr/internal/directio"
)

// ExportOptions tune Export.
type ExportOptions struct {
	Workers  int               // parallel batches; default Concurrency+2
	Progress func(bytes int64) // called with bytes of disk processed
}

// exportBatch is how many leaves one export task handles (4 MiB with 128 KiB leaves).
const exportBatch = 32

var batchBufs = sync.Pool{New: func() any {
	b := directio.AlignedBuffer(exportBatch * maxBlobBytes)
	return &b
}}

// Export writes the disk to out as a raw image: out is truncated to the disk's size and only blocks
// with data are written, so zero ranges stay holes in a sparse file. Blobs are fetched, decrypted,
// decompressed and verified in parallel, and runs of data are written with direct I/O where the
// file system allows it, which spares the page cache a copy of the whole disk.
func (dr *DiskReader) Export(ctx context.Context, out *os.File, opts ExportOptions) error {
	if opts.Workers <= 0 {
		opts.Workers = dr.r.opts.Concurrency + 2
	}
	if err := out.Truncate(0); err != nil {
		return fmt.Errorf("truncate %s: %w", out.Name(), err)
	}
	if err := out.Truncate(dr.g.size); err != nil {
		return fmt.Errorf("truncate %s: %w", out.Name(), err)
	}
	iw := newImageWriter(out)
	nLeaves := dr.g.leaves()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Workers)
	for lo := int64(0); lo < nLeaves; lo += exportBatch {
		hi := min(lo+exportBatch, nLeaves)
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := dr.exportRange(gctx, iw, lo, hi); err != nil {
				return err
			}
			if opts.Progress != nil {
				opts.Progress(min(hi*dr.g.leafBytes(), dr.g.size) - lo*dr.g.leafBytes())
			}
			return nil
		})
	}
	err := g.Wait()
	if cerr := iw.close(); err == nil {
		err = cerr
	}
	return err
}

func (dr *DiskReader) exportRange(ctx context.Context, iw *imageWriter, lo, hi int64) error {
	ids, err := leafIDs(ctx, dr.r, dr.r, dr.root, dr.g, dr.h, lo, hi)
	if err != nil {
		return dr.where(lo*dr.g.leafBytes(), err)
	}
	if err := dr.r.prefetchNodes(ctx, ids); err != nil {
		off := lo * dr.g.leafBytes()
		var be *blobError
		if errors.As(err, &be) {
			for i, id := range ids {
				if id == be.id {
					off = (lo + int64(i)) * dr.g.leafBytes()
					break
				}
			}
		}
		return dr.where(off, err)
	}
	leaves := make([]*leaf, len(ids))
	var blobs []ID
	for i, id := range ids {
		if id.IsZero() {
			continue
		}
		l, err := loadLeaf(ctx, dr.r, id, dr.g)
		if err != nil {
			return dr.where((lo+int64(i))*dr.g.leafBytes(), err)
		}
		leaves[i] = l
		for _, e := range l.extents() {
			blobs = append(blobs, e.blob)
		}
	}
	if len(blobs) == 0 {
		return nil
	}
	lb := dr.g.leafBytes()
	base := lo * lb
	// Buffers are reused without clearing: only blocks that are present are filled and written.
	n := min(int64(len(ids))*lb, dr.g.size-base)
	bp := batchBufs.Get().(*[]byte)
	defer batchBufs.Put(bp)
	if int64(cap(*bp)) < n { // a geometry with larger leaves
		*bp = directio.AlignedBuffer(int(n))
	}
	buf := (*bp)[:n]
	// A blob that one extent uses whole is copied into its place in buf at once; others are kept
	// aside and copied block by block. (Decoding straight into buf would force zstd onto its slow
	// path, which needs slack beyond the output.)
	uses := map[ID]int{}
	place := map[ID][]byte{}
	for i, l := range leaves {
		if l == nil {
			continue
		}
		for _, e := range l.extents() {
			uses[e.blob]++
			if e.off == 0 {
				from := int64(i)*lb + int64(e.start*BlockSize)
				if to := from + int64(e.count*BlockSize); to <= int64(len(buf)) {
					place[e.blob] = buf[from:from:to]
				}
			}
		}
	}
	data := map[ID][]byte{}
	inPlace := map[ID]bool{}
	if err := dr.r.loadBlobs(ctx, blobs, func(id ID, loc blobLoc, plain []byte) error {
		if loc.Type != DataBlob {
			return corruptf("blob %s is a %s blob where data was expected", id.Short(), loc.Type)
		}
		if p, ok := place[id]; ok && uses[id] == 1 && len(plain) == cap(p) {
			copy(p[:cap(p)], plain)
			inPlace[id] = true
			return nil
		}
		data[id] = append([]byte(nil), plain...)
		return nil
	}); err != nil {
		return dr.where(dr.firstUse(lo, leaves, err), err)
	}
	get := func(id ID) ([]byte, error) {
		if d, ok := data[id]; ok {
			return d, nil
		}
		return nil, errors.New("blob not fetched")
	}
	for i, l := range leaves {
		if l == nil {
			continue
		}
		from := int64(i) * lb
		if err := dr.fill(lo+int64(i), l, buf[from:min(from+lb, int64(len(buf)))], get, inPlace); err != nil {
			return err
		}
	}
	// Write runs of present blocks across the batch; absent blocks stay holes.
	present := func(b int64) bool {
		l := leaves[b/int64(dr.g.leafBlocks)]
		return l != nil && l.has(int(b%int64(dr.g.leafBlocks)))
	}
	nBlocks := ceilDiv(int64(len(buf)), BlockSize)
	for b := int64(0); b < nBlocks; {
		if !present(b) {
			b++
			continue
		}
		e := b
		for e < nBlocks && present(e) {
			e++
		}
		end := min(e*BlockSize, int64(len(buf)))
		if err := iw.write(buf[b*BlockSize:end], base+b*BlockSize); err != nil {
			return err
		}
		b = e
	}
	return nil
}
