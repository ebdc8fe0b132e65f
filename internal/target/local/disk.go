package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/target/qcow2"
	"github.com/opensiterecovery/osr/internal/target/vhd"
)

// markerName is the done marker's name for a disk file.
func markerName(file string) string { return "." + file + ".done" }

// writeDisk writes one disk of a run unless its done marker says it is complete already, then
// syncs it and writes the marker.
func (p *Provider) writeDisk(ctx context.Context, dir, pointID string, pd plannedDisk, add func(int64)) (marker, error) {
	path := filepath.Join(dir, pd.file)
	mpath := filepath.Join(dir, markerName(pd.file))
	want := marker{Version: 1, Disk: pd.d.Name(), Format: pd.format, PointID: pointID, SizeBytes: pd.d.Size()}
	if m, err := complete(path, mpath, want); err == nil {
		add(pd.d.Size())
		return m, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		p.cfg.Logger.Warn("disk is written again", "file", path, "reason", err)
	}
	if err := os.Remove(mpath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return marker{}, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return marker{}, err
	}
	defer f.Close()
	m := want
	switch pd.format {
	case FormatRaw, FormatVHD:
		if m.BytesWritten, err = p.writeRaw(ctx, f, pd.d, add); err != nil {
			return marker{}, err
		}
		m.FileSize = pd.d.Size()
		if pd.format == FormatVHD {
			if m.FileSize, err = p.appendFooter(f, pd.d.Size()); err != nil {
				return marker{}, err
			}
		}
	case FormatQcow2:
		st, err := qcow2.Write(ctx, f, pd.d, qcow2.Options{Workers: p.cfg.Workers, Progress: add})
		if err != nil {
			return marker{}, err
		}
		m.BytesWritten, m.FileSize = st.DataBytes, st.FileSize
	}
	m.BytesSkipped = m.SizeBytes - m.BytesWritten
	if err := f.Sync(); err != nil {
		return marker{}, fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return marker{}, err
	}
	if err := syncDir(dir); err != nil {
		return marker{}, err
	}
	if err := writeFileAtomic(mpath, m.encode()); err != nil {
		return marker{}, err
	}
	return m, nil
}

// complete returns the marker of a disk file that is done as want describes, or why not
// (os.ErrNotExist when there is no marker).
func complete(path, mpath string, want marker) (marker, error) {
	b, err := os.ReadFile(mpath)
	if err != nil {
		return marker{}, err
	}
	m, err := parseMarker(b)
	if err != nil {
		return marker{}, err
	}
	if m.Disk != want.Disk || m.Format != want.Format || m.PointID != want.PointID || m.SizeBytes != want.SizeBytes {
		return marker{}, fmt.Errorf("the marker is for disk %s %s of point %s, %d bytes", m.Disk, m.Format, m.PointID, m.SizeBytes)
	}
	f, err := os.Open(path)
	if err != nil {
		return marker{}, fmt.Errorf("marker without its file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return marker{}, err
	}
	if st.Size() != m.FileSize {
		return marker{}, fmt.Errorf("the file has %d bytes, the marker says %d", st.Size(), m.FileSize)
	}
	switch m.Format {
	case FormatVHD:
		ft, err := vhd.ReadFixed(f, st.Size())
		if err != nil {
			return marker{}, err
		}
		if int64(ft.CurrentSize) != vhd.AlignedSize(m.SizeBytes) {
			return marker{}, fmt.Errorf("the vhd has %d bytes, want %d", ft.CurrentSize, vhd.AlignedSize(m.SizeBytes))
		}
	case FormatQcow2:
		hb := make([]byte, qcow2.ClusterSize)
		if _, err := f.ReadAt(hb, 0); err != nil {
			return marker{}, err
		}
		h, err := qcow2.ParseHeader(hb)
		if err != nil {
			return marker{}, err
		}
		if want := qcow2.VirtualSize(m.SizeBytes); int64(h.Size) != want {
			return marker{}, fmt.Errorf("the qcow2 image has %d bytes, want %d", h.Size, want)
		}
	}
	return m, nil
}

// appendFooter makes f, holding a raw disk of size bytes, a fixed VHD: the virtual size rounded
// up to 1 MiB (the tail zero) and the footer after it. It returns the file's size.
func (p *Provider) appendFooter(f *os.File, size int64) (int64, error) {
	aligned := vhd.AlignedSize(size)
	var id [16]byte
	if _, err := io.ReadFull(p.cfg.Rand, id[:]); err != nil {
		return 0, fmt.Errorf("vhd unique id: %w", err)
	}
	ft, err := vhd.NewFixedFooter(aligned, p.cfg.Clock.Now(), id)
	if err != nil {
		return 0, err
	}
	if err := f.Truncate(aligned); err != nil {
		return 0, err
	}
	if _, err := f.WriteAt(ft.Marshal(), aligned); err != nil {
		return 0, fmt.Errorf("write vhd footer: %w", err)
	}
	return aligned + vhd.FooterSize, nil
}

// writeRaw writes d into f as a raw sparse image of exactly d.Size() bytes and returns how many
// bytes of data it holds (the rest are holes). It uses the disk's own export when it has one.
func (p *Provider) writeRaw(ctx context.Context, f *os.File, d target.Disk, add func(int64)) (int64, error) {
	if x, ok := d.(target.RawExporter); ok {
		if err := x.ExportRaw(ctx, f, add); err != nil {
			return 0, err
		}
		// An export stopped between batches by ctx may return no error: never call it complete.
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		return dataBytes(f, d.Size()), nil
	}
	ext, err := d.DataExtents(ctx)
	if err != nil {
		return 0, err
	}
	return p.copyExtents(ctx, f, d, ext, add)
}

// chunkSize is how much one worker of copyExtents reads at once.
const chunkSize = 1 << 20

// copyExtents copies d's extents into f (truncated to d's size first) with parallel workers;
// chunks that read as zeros are left as holes. It returns the bytes written.
func (p *Provider) copyExtents(ctx context.Context, f *os.File, d target.Disk, ext []target.Extent, add func(int64)) (int64, error) {
	if err := f.Truncate(0); err != nil {
		return 0, err
	}
	if err := f.Truncate(d.Size()); err != nil {
		return 0, err
	}
	var inExt int64
	for _, e := range ext {
		inExt += e.Len
	}
	add(d.Size() - inExt)
	workers := p.cfg.Workers
	if workers <= 0 {
		workers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	pool := sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}
	zero := make([]byte, chunkSize)
	var written atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
loop:
	for _, e := range ext {
		for off := e.Off; off < e.Off+e.Len; {
			if gctx.Err() != nil {
				break loop
			}
			at, n := off, min(e.Off+e.Len-off, chunkSize-off%chunkSize)
			off += n
			g.Go(func() error {
				bp := pool.Get().(*[]byte)
				defer pool.Put(bp)
				buf := (*bp)[:n]
				if k, err := d.ReadAt(buf, at); err != nil && !(errors.Is(err, io.EOF) && int64(k) == n) {
					return fmt.Errorf("read at %d: %w", at, err)
				}
				if !bytes.Equal(buf, zero[:n]) {
					if _, err := f.WriteAt(buf, at); err != nil {
						return fmt.Errorf("write %s: %w", f.Name(), err)
					}
					written.Add(n)
				}
				add(n)
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return written.Load(), nil
}
