package azure

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"
	"golang.org/x/sync/errgroup"

	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/target/vhd"
)

// counts are one upload's figures, shared by its workers.
type counts struct {
	written atomic.Int64 // disk bytes sent in page writes
	present atomic.Int64 // disk bytes a window had and an earlier attempt already wrote
	done    atomic.Int64 // disk bytes done for progress: written, skipped or present
}

// diskUpload is one disk's page blob being written.
type diskUpload struct {
	p      *Provider
	client *pageblob.Client
	url    string // the blob's URL for messages (no SAS token)
	disk   target.Disk
	want   blobMeta // Created is filled in by prepare
	counts *counts
	onDone func(n int64) // told of bytes done (progress)
}

// blobSize is the page blob's size for a disk of size bytes: the fixed VHD's virtual size (the
// disk rounded up to a MiB) and its footer.
func blobSize(size int64) int64 { return vhd.AlignedSize(size) + vhd.FooterSize }

// upload writes the disk's page blob and returns once it is complete (metadata osr_complete set
// after every data page and the footer are acknowledged). A complete blob of the same upload is
// left as it is; an incomplete one is resumed from its watermark, and pages it holds above the
// watermark are not sent again; a blob of another upload (or none) is created afresh.
func (u *diskUpload) upload(ctx context.Context) error {
	size := u.disk.Size()
	meta, ranges, err := u.prepare(ctx)
	if err != nil {
		return err
	}
	if meta.Complete {
		u.p.log.InfoContext(ctx, "azure target: page blob already complete", "blob", u.url)
		u.counts.present.Add(size)
		u.onDone(size)
		return nil
	}
	exts, err := u.disk.DataExtents(ctx)
	if err != nil {
		return fmt.Errorf("azure target: disk %s: data extents: %w", u.disk.Name(), err)
	}
	limit := (size + PageSize - 1) / PageSize * PageSize
	aligned, err := alignExtents(exts, limit)
	if err != nil {
		return fmt.Errorf("azure target: disk %s: %w", u.disk.Name(), err)
	}
	wins := windows(aligned, meta.Watermark, int64(u.p.cfg.Window))
	var inWindows int64
	for _, w := range wins {
		inWindows += min(w.end, size) - w.off
	}
	u.onDone(size - inWindows)  // holes and what is below the watermark need no work
	for _, e := range aligned { // an earlier attempt wrote the data extents below the watermark
		u.counts.present.Add(max(min(e.Off+e.Len, meta.Watermark, size)-e.Off, 0))
	}
	if meta.Watermark > 0 {
		u.p.log.InfoContext(ctx, "azure target: resuming page blob", "blob", u.url,
			"watermark", meta.Watermark, "written_ranges", len(ranges))
	}

	if err := u.writeWindows(ctx, wins, meta, ranges); err != nil {
		return err
	}
	footer, err := vhd.NewFixedFooter(vhd.AlignedSize(size), meta.Created, footerID(meta))
	if err != nil {
		return fmt.Errorf("azure target: disk %s: %w", u.disk.Name(), err)
	}
	if err := u.put(ctx, footer.Marshal(), vhd.AlignedSize(size)); err != nil {
		return fmt.Errorf("azure target: disk %s: write the vhd footer: %w", u.disk.Name(), err)
	}
	meta.Watermark, meta.Complete = limit, true
	if _, err := u.client.SetMetadata(ctx, meta.encode(), nil); err != nil {
		return fmt.Errorf("azure target: disk %s: mark the page blob complete: %w", u.disk.Name(), err)
	}
	return nil
}

// prepare finds or creates the blob and returns its metadata and, when resuming, the page
// ranges it already holds.
func (u *diskUpload) prepare(ctx context.Context) (blobMeta, pageRanges, error) {
	size := u.disk.Size()
	props, err := u.client.GetProperties(ctx, nil)
	switch {
	case err == nil:
		have, perr := parseMeta(props.Metadata)
		sizeOK := props.ContentLength != nil && *props.ContentLength == blobSize(size)
		if perr == nil && sizeOK && have.sameUpload(u.want) {
			if have.Complete {
				return have, nil, nil
			}
			ranges, err := u.writtenRanges(ctx)
			return have, ranges, err
		}
		reason := "its size differs"
		if perr != nil {
			reason = perr.Error()
		} else if sizeOK {
			reason = fmt.Sprintf("it is of run %q, point %q, disk %q of %d bytes", have.Run, have.Point, have.Disk, have.DiskSize)
		}
		u.p.log.WarnContext(ctx, "azure target: page blob is not of this upload; starting it over",
			"blob", u.url, "reason", reason)
	case bloberror.HasCode(err, bloberror.BlobNotFound):
	case bloberror.HasCode(err, bloberror.ContainerNotFound):
		return blobMeta{}, nil, fmt.Errorf("azure target: container %s does not exist: create it, or set create_container", u.p.base)
	default:
		return blobMeta{}, nil, fmt.Errorf("azure target: disk %s: %w", u.disk.Name(), err)
	}
	meta := u.want
	meta.Created = u.p.clock.Now().UTC().Truncate(time.Second)
	// Creating a page blob over an existing one replaces it, pages and metadata, at once.
	_, err = u.client.Create(ctx, blobSize(size), &pageblob.CreateOptions{
		Metadata:    meta.encode(),
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: ptr("application/octet-stream")},
	})
	if err != nil {
		return blobMeta{}, nil, fmt.Errorf("azure target: disk %s: create page blob: %w", u.disk.Name(), err)
	}
	return meta, nil, nil
}

// writtenRanges lists the pages the blob holds.
func (u *diskUpload) writtenRanges(ctx context.Context) (pageRanges, error) {
	var out pageRanges
	pager := u.client.NewGetPageRangesPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("azure target: disk %s: get page ranges: %w", u.disk.Name(), err)
		}
		for _, r := range page.PageRange {
			if r == nil || r.Start == nil || r.End == nil {
				continue
			}
			if out, err = out.add(*r.Start, *r.End+1); err != nil {
				return nil, fmt.Errorf("azure target: disk %s: %w", u.disk.Name(), err)
			}
		}
	}
	return out, nil
}

// writeWindows reads and writes the windows with the provider's workers, and records the
// watermark in the blob's metadata as windows finish.
func (u *diskUpload) writeWindows(ctx context.Context, wins []window, meta blobMeta, ranges pageRanges) error {
	size := u.disk.Size()
	var mu sync.Mutex // guards trk, persisted, persisting
	trk := newTracker(wins)
	persisted, persisting := meta.Watermark, false
	limit := (size + PageSize - 1) / PageSize * PageSize
	// advance records window i done and, when the watermark has moved far enough and no update
	// is in flight, writes it to the blob's metadata. One update at a time, each of a newer
	// watermark than the last, so the recorded watermark never goes back.
	advance := func(ctx context.Context, i int) error {
		mu.Lock()
		mark := trk.finish(i, limit)
		if persisting || mark-persisted < u.p.cfg.WatermarkEvery {
			mu.Unlock()
			return nil
		}
		persisting = true
		mu.Unlock()
		m := meta
		m.Watermark = mark
		_, err := u.client.SetMetadata(ctx, m.encode(), nil)
		mu.Lock()
		persisting = false
		if err == nil {
			persisted = mark
		}
		mu.Unlock()
		if err != nil {
			return fmt.Errorf("azure target: disk %s: record the watermark: %w", u.disk.Name(), err)
		}
		return nil
	}

	g, gctx := errgroup.WithContext(ctx)
	next := make(chan int)
	g.Go(func() error {
		defer close(next)
		for i := range wins {
			select {
			case next <- i:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for range min(u.p.cfg.Workers, max(len(wins), 1)) {
		g.Go(func() error {
			buf := make([]byte, u.p.cfg.Window)
			for i := range next {
				w := wins[i]
				if err := u.writeWindow(gctx, buf[:w.end-w.off], w, ranges); err != nil {
					return err
				}
				u.onDone(min(w.end, size) - w.off)
				if err := advance(gctx, i); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// writeWindow reads one window and writes its non-zero runs that the blob does not hold yet.
func (u *diskUpload) writeWindow(ctx context.Context, buf []byte, w window, ranges pageRanges) error {
	size := u.disk.Size()
	n, err := u.disk.ReadAt(buf[:min(w.end, size)-w.off], w.off)
	if err != nil && !(errors.Is(err, io.EOF) && w.off+int64(n) == size) {
		return fmt.Errorf("azure target: disk %s: read at %d: %w", u.disk.Name(), w.off, err)
	}
	clear(buf[min(w.end, size)-w.off:]) // the last page's bytes beyond the disk's end
	for _, r := range dataRuns(buf, u.p.cfg.MinZeroGap) {
		off, end := w.off+int64(r.off), w.off+int64(r.end)
		inDisk := min(end, size) - off
		if ranges.covers(off, end) {
			u.counts.present.Add(inDisk)
			continue
		}
		if err := u.put(ctx, buf[r.off:r.end], off); err != nil {
			return fmt.Errorf("azure target: disk %s: write pages at %d: %w", u.disk.Name(), off, err)
		}
		u.counts.written.Add(inDisk)
	}
	return nil
}

// put writes one page-aligned run with its MD5, which the service checks before it keeps it.
func (u *diskUpload) put(ctx context.Context, b []byte, off int64) error {
	sum := md5.Sum(b)
	_, err := u.client.UploadPages(ctx, streaming.NopCloser(bytes.NewReader(b)),
		blob.HTTPRange{Offset: off, Count: int64(len(b))},
		&pageblob.UploadPagesOptions{TransactionalValidation: blob.TransferValidationTypeMD5(sum[:])})
	return err
}

func ptr[T any](v T) *T { return &v }
