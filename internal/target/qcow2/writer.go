package qcow2

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/opensiterecovery/osr/internal/target"
)

// Options tune Write. Zero values take defaults.
type Options struct {
	// Workers read and write data clusters in parallel; default 2×GOMAXPROCS, at least 4.
	Workers int
	// ChunkClusters is how many clusters one worker reads at once; default 16 (1 MiB).
	ChunkClusters int
	// Progress, if set, is told guest bytes done (zero ranges included). It may be called from
	// several goroutines at once.
	Progress func(n int64)

	clusterBits uint32 // tests only: smaller clusters; default ClusterBits
}

// Stats say what Write did.
type Stats struct {
	DataBytes    int64 // guest bytes stored in data clusters
	SkippedBytes int64 // guest bytes left unallocated (they read as zeros)
	FileSize     int64 // the image file's size
}

// Write writes d into f as a qcow2 version 3 image: f is truncated first, only clusters with
// data are allocated, and on success the image is complete and synced. The header is written
// (and synced) after everything else, so an image cut short by a crash or a cancelled ctx has no
// valid header. It reads d's extents once and each data cluster once.
//
// A disk that is a target.RawExporter (a recovery point in the store) is exported raw into f
// with its fast parallel export and becomes a qcow2 image in place (the identity layout, see
// docs/formats/qcow2.md); other disks are read cluster by cluster by parallel workers, and
// clusters that read as zeros stay unallocated.
func Write(ctx context.Context, f *os.File, d target.Disk, opts Options) (Stats, error) {
	if opts.Workers <= 0 {
		opts.Workers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if opts.ChunkClusters <= 0 {
		opts.ChunkClusters = 16
	}
	if opts.Progress == nil {
		opts.Progress = func(int64) {}
	}
	if opts.clusterBits == 0 {
		opts.clusterBits = ClusterBits
	}
	ext, err := d.DataExtents(ctx)
	if err != nil {
		return Stats{}, err
	}
	x, exporter := d.(target.RawExporter)
	l, err := plan(d.Size(), ext, opts.clusterBits, exporter)
	if err != nil {
		return Stats{}, fmt.Errorf("disk %s: %w", d.Name(), err)
	}
	w := &dataWriter{l: l, f: f, d: d, written: make([]atomic.Uint64, ceilDiv(l.total, 64)), progress: opts.Progress, zero: make([]byte, l.cs)}
	if exporter {
		err = w.exported(ctx, x)
	} else {
		err = w.stream(ctx, opts)
	}
	if err != nil {
		return Stats{}, err
	}
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	if err := w.tables(); err != nil {
		return Stats{}, err
	}
	if err := f.Sync(); err != nil {
		return Stats{}, fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	hdr := make([]byte, l.cs)
	copy(hdr, l.header().Marshal())
	if _, err := f.WriteAt(hdr, 0); err != nil {
		return Stats{}, fmt.Errorf("write header of %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return Stats{}, fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	db := w.dataBytes.Load()
	return Stats{DataBytes: db, SkippedBytes: l.size - db, FileSize: l.total * l.cs}, nil
}

// stream writes the data clusters of the streaming layout, read from the disk by parallel
// workers.
func (w *dataWriter) stream(ctx context.Context, opts Options) error {
	l, f := w.l, w.f
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("truncate %s: %w", f.Name(), err)
	}
	if err := f.Truncate(l.total * l.cs); err != nil {
		return fmt.Errorf("truncate %s: %w", f.Name(), err)
	}
	var inRuns int64
	for _, r := range l.runs {
		inRuns += l.guestBytes(r.guest, r.n)
	}
	w.progress(l.size - inRuns)
	w.pool.New = func() any { b := make([]byte, int64(opts.ChunkClusters)*l.cs); return &b }
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Workers)
chunks:
	for _, r := range l.runs {
		for c := int64(0); c < r.n; c += int64(opts.ChunkClusters) {
			if gctx.Err() != nil {
				break chunks
			}
			n := min(int64(opts.ChunkClusters), r.n-c)
			g.Go(func() error { return w.chunk(r.guest+c, n, r.host+c) })
		}
	}
	return g.Wait()
}

// exported writes the data clusters of the identity layout: the disk's raw export, guest
// cluster 0 moved to its place past the disk (and zeroed where the header goes).
func (w *dataWriter) exported(ctx context.Context, x target.RawExporter) error {
	l, f := w.l, w.f
	if err := x.ExportRaw(ctx, f, w.progress); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil { // an export stopped between batches may not say so
		return err
	}
	if len(l.runs) > 0 && l.runs[0].guest == 0 {
		buf := make([]byte, l.cs)
		n := min(l.cs, l.size)
		if k, err := f.ReadAt(buf[:n], 0); err != nil && !(errors.Is(err, io.EOF) && int64(k) == n) {
			return fmt.Errorf("read %s: %w", f.Name(), err)
		}
		if _, err := f.WriteAt(buf, l.runs[0].host*l.cs); err != nil {
			return fmt.Errorf("write %s: %w", f.Name(), err)
		}
		if _, err := f.WriteAt(w.zero, 0); err != nil {
			return fmt.Errorf("write %s: %w", f.Name(), err)
		}
	}
	if err := f.Truncate(l.total * l.cs); err != nil {
		return fmt.Errorf("truncate %s: %w", f.Name(), err)
	}
	for _, r := range l.runs {
		for h := r.host; h < r.host+r.n; h++ {
			w.setData(h)
		}
		w.dataBytes.Add(l.guestBytes(r.guest, r.n))
	}
	return nil
}

// guestBytes is how many bytes of the disk n clusters from guest cluster g cover.
func (l *layout) guestBytes(g, n int64) int64 {
	return min((g+n)*l.cs, l.size) - g*l.cs
}

type dataWriter struct {
	l         *layout
	f         *os.File
	d         target.Disk
	written   []atomic.Uint64 // bit i: host cluster i holds data
	progress  func(int64)
	dataBytes atomic.Int64
	pool      sync.Pool
	zero      []byte // one cluster of zeros
}

// chunk copies n guest clusters from guest cluster g to host cluster h, leaving all-zero
// clusters unwritten.
func (w *dataWriter) chunk(g, n, h int64) error {
	cs := w.l.cs
	bp := w.pool.Get().(*[]byte)
	defer w.pool.Put(bp)
	buf := (*bp)[:n*cs]
	want := w.l.guestBytes(g, n)
	if k, err := w.d.ReadAt(buf[:want], g*cs); err != nil && !(errors.Is(err, io.EOF) && int64(k) == want) {
		return fmt.Errorf("read disk %s at %d: %w", w.d.Name(), g*cs, err)
	}
	clear(buf[want:])
	flush := func(from, to int64) error { // clusters [from, to) of the chunk
		if from == to {
			return nil
		}
		if _, err := w.f.WriteAt(buf[from*cs:to*cs], (h+from)*cs); err != nil {
			return fmt.Errorf("write %s: %w", w.f.Name(), err)
		}
		startWriteback(w.f, (h+from)*cs, (to-from)*cs)
		return nil
	}
	start := int64(0)
	for i := int64(0); i < n; i++ {
		if bytes.Equal(buf[i*cs:(i+1)*cs], w.zero) {
			if err := flush(start, i); err != nil {
				return err
			}
			start = i + 1
			continue
		}
		w.setData(h + i)
		w.dataBytes.Add(w.l.guestBytes(g+i, 1))
	}
	if err := flush(start, n); err != nil {
		return err
	}
	w.progress(want)
	return nil
}

func (w *dataWriter) setData(host int64) { w.written[host/64].Or(1 << (host % 64)) }

func (w *dataWriter) hasData(host int64) bool {
	return w.written[host/64].Load()&(1<<(host%64)) != 0
}

// tables writes the L2 tables, refcount blocks, refcount table and L1 table.
func (w *dataWriter) tables() error {
	l := w.l
	cs := l.cs
	be := binary.BigEndian
	buf := make([]byte, cs)
	put := func(cluster int64, what string) error {
		if _, err := w.f.WriteAt(buf, cluster*cs); err != nil {
			return fmt.Errorf("write %s of %s: %w", what, w.f.Name(), err)
		}
		return nil
	}
	ri := 0
	for j, li := range l.l2Index {
		clear(buf)
		lo, hi := li*l.l2e, (li+1)*l.l2e
		for ri < len(l.runs) && l.runs[ri].guest+l.runs[ri].n <= lo {
			ri++
		}
		for k := ri; k < len(l.runs) && l.runs[k].guest < hi; k++ {
			r := l.runs[k]
			for g := max(r.guest, lo); g < min(r.guest+r.n, hi); g++ {
				if host := r.host + g - r.guest; w.hasData(host) {
					be.PutUint64(buf[(g-lo)*8:], uint64(host*cs)|flagCopied)
				}
			}
		}
		if err := put(l.l2+int64(j), "l2 table"); err != nil {
			return err
		}
	}
	for b := int64(0); b < l.rbc; b++ {
		clear(buf)
		for i := int64(0); i < l.rce; i++ {
			c := b*l.rce + i
			if c >= l.total {
				break
			}
			if c == 0 || c >= l.meta && c < l.metaEnd || w.hasData(c) {
				be.PutUint16(buf[i*2:], 1)
			}
		}
		if err := put(l.rb+b, "refcount block"); err != nil {
			return err
		}
	}
	for t := int64(0); t < l.rtc; t++ {
		clear(buf)
		for i := int64(0); i < cs/8; i++ {
			if b := t*cs/8 + i; b < l.rbc {
				be.PutUint64(buf[i*8:], uint64((l.rb+b)*cs))
			}
		}
		if err := put(l.rt+t, "refcount table"); err != nil {
			return err
		}
	}
	l1 := make([]byte, l.l1c*cs)
	for j, li := range l.l2Index {
		be.PutUint64(l1[li*8:], uint64((l.l2+int64(j))*cs)|flagCopied)
	}
	if _, err := w.f.WriteAt(l1, l.l1*cs); err != nil {
		return fmt.Errorf("write l1 table of %s: %w", w.f.Name(), err)
	}
	return nil
}
