package target

import (
	"context"
	"fmt"
	"os"

	"github.com/opensiterecovery/osr/internal/store"
)

// RawExporter is implemented by disks that can write themselves into a raw image file faster
// than a provider reading them (StoreDisk: the store's parallel export). ExportRaw leaves f
// exactly Size() bytes long with the disk's content, zero ranges as holes where the file system
// allows; it does not sync f. It returns nil only when the whole disk is written (a cancelled
// ctx is an error). progress, if set, is told bytes of the disk processed (it may be called from
// several goroutines at once).
type RawExporter interface {
	ExportRaw(ctx context.Context, f *os.File, progress func(n int64)) error
}

// StoreDisk is a disk of a recovery point in the vault's store, as a Disk and a RawExporter.
type StoreDisk struct {
	name string
	dr   *store.DiskReader
}

// NewStoreDisk returns the disk name read through dr.
func NewStoreDisk(name string, dr *store.DiskReader) *StoreDisk {
	return &StoreDisk{name: name, dr: dr}
}

// OpenStoreDisks opens every disk of pt, in the point's order.
func OpenStoreDisks(r *store.Repo, pt *store.Point) ([]Disk, error) {
	out := make([]Disk, 0, len(pt.Disks))
	for _, d := range pt.Disks {
		dr, err := r.OpenDisk(pt, d.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, NewStoreDisk(d.Name, dr))
	}
	return out, nil
}

// Name is the disk's name in the point.
func (d *StoreDisk) Name() string { return d.name }

// Size is the disk's size in bytes.
func (d *StoreDisk) Size() int64 { return d.dr.Size() }

// ReadAt reads from the point, verified. It is safe for concurrent use.
func (d *StoreDisk) ReadAt(p []byte, off int64) (int, error) { return d.dr.ReadAt(p, off) }

// fingerprintBatch is how many block fingerprints DataExtents asks the store for at once
// (1 MiB of fingerprints for 256 MiB of disk).
const fingerprintBatch = 1 << 16

// DataExtents returns the runs of blocks whose fingerprint is not the zero block's (absent
// blocks and blocks written as zeros are left out), adjacent blocks merged, the last extent
// clipped to the disk's size. It reads tree nodes only.
func (d *StoreDisk) DataExtents(ctx context.Context) ([]Extent, error) {
	blocks := d.dr.Blocks()
	size := d.dr.Size()
	zero := store.ZeroFingerprint()
	fps := make([][store.FingerprintSize]byte, min(blocks, fingerprintBatch))
	var out []Extent
	for first := int64(0); first < blocks; first += int64(len(fps)) {
		n := min(int64(len(fps)), blocks-first)
		if err := d.dr.Fingerprints(ctx, first, fps[:n]); err != nil {
			return nil, fmt.Errorf("disk %s: %w", d.name, err)
		}
		for i, fp := range fps[:n] {
			if fp == zero {
				continue
			}
			off := (first + int64(i)) * store.BlockSize
			l := min(int64(store.BlockSize), size-off)
			if k := len(out) - 1; k >= 0 && out[k].Off+out[k].Len == off {
				out[k].Len += l
				continue
			}
			out = append(out, Extent{Off: off, Len: l})
		}
	}
	return out, nil
}

// ExportRaw writes the disk into f with the store's parallel export.
func (d *StoreDisk) ExportRaw(ctx context.Context, f *os.File, progress func(n int64)) error {
	if err := d.dr.Export(ctx, f, store.ExportOptions{Progress: progress}); err != nil {
		return err
	}
	// The export stops launching batches when ctx ends; it need not say so.
	return ctx.Err()
}
