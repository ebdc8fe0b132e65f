// Package source reads the disks osr protects: disk image files and block devices. It knows where a
// sparse file has data (SEEK_DATA/SEEK_HOLE), so holes are neither read nor sent.
package source

import (
	"context"
	"fmt"
	"io"
	"os"

	"golang.org/x/sync/errgroup"
)

// Disk is an open source disk.
type Disk struct {
	f    *os.File
	size int64
	path string
	mem  []byte // the file mapped read-only while CopyTo runs, or nil
}

// Open opens a disk image file or a block device for reading.
func Open(path string) (*Disk, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s is a directory, not a disk", path)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("size of %s: %w", path, err)
	}
	return &Disk{f: f, size: size, path: path}, nil
}

// Size returns the disk's size in bytes.
func (d *Disk) Size() int64 { return d.size }

// Path returns the path it was opened with.
func (d *Disk) Path() string { return d.path }

// Close closes the disk.
func (d *Disk) Close() error { return d.f.Close() }

// ReadAt reads from the disk.
func (d *Disk) ReadAt(p []byte, off int64) (int, error) { return d.f.ReadAt(p, off) }

// Target receives a disk's content.
type Target interface {
	WriteAt(p []byte, off int64) (int, error)
	ZeroRange(off, length int64) error
}

// CopyOptions tune CopyTo.
type CopyOptions struct {
	Workers   int               // parallel readers; default 2
	ChunkSize int               // bytes per read, a multiple of 128 KiB; default 1 MiB
	Progress  func(bytes int64) // bytes of disk done
	// SkipHoles leaves holes alone instead of zeroing them in the target: right for a target that
	// starts empty.
	SkipHoles bool
}

// CopyTo reads the whole disk into t, chunk by chunk in parallel; holes are zeroed in t (or skipped
// with SkipHoles) without being read.
func CopyTo(ctx context.Context, d *Disk, t Target, opts CopyOptions) error {
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 1 << 20
	}
	chunk := int64(opts.ChunkSize)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Workers)
	bufs := make(chan []byte, opts.Workers)
	for i := 0; i < opts.Workers; i++ {
		bufs <- make([]byte, chunk)
	}
	progress := func(n int64) {
		if opts.Progress != nil {
			opts.Progress(n)
		}
	}
	d.mapFile()
	defer d.unmap()
	err := d.Ranges(func(off, length int64, data bool) error {
		if !data {
			if !opts.SkipHoles {
				if err := t.ZeroRange(off, length); err != nil {
					return err
				}
			}
			progress(length)
			return nil
		}
		// Read in chunks aligned to chunk boundaries, so whole leaves reach the target.
		for pos := off; pos < off+length; {
			end := min((pos/chunk+1)*chunk, off+length)
			if err := gctx.Err(); err != nil {
				return err
			}
			buf := <-bufs
			start := pos
			g.Go(func() error {
				defer func() { bufs <- buf }()
				p, err := d.chunk(buf[:end-start], start)
				if err != nil {
					return err
				}
				if err := writeChunk(t, p, start); err != nil {
					return err
				}
				d.release(p)
				progress(int64(len(p)))
				return nil
			})
			pos = end
		}
		return nil
	})
	if werr := g.Wait(); err == nil {
		err = werr
	}
	return err
}
