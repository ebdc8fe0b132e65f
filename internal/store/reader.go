package store

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// DiskReader reads one disk of a recovery point. Every block it returns has been authenticated and
// checked against its fingerprint.
type DiskReader struct {
	r    *Repo
	pt   *Point
	name string
	g    geometry
	h    int
	root ID
}

// OpenDisk returns a reader of the named disk of pt.
func (r *Repo) OpenDisk(pt *Point, disk string) (*DiskReader, error) {
	d, ok := pt.Disk(disk)
	if !ok {
		names := make([]string, 0, len(pt.Disks))
		for _, d := range pt.Disks {
			names = append(names, d.Name)
		}
		return nil, fmt.Errorf("recovery point %s has no disk %q (disks: %v)", pt.ID, disk, names)
	}
	root, err := d.root()
	if err != nil {
		return nil, err
	}
	g := d.geometry()
	return &DiskReader{r: r, pt: pt, name: disk, g: g, h: g.height(), root: root}, nil
}

// Size returns the disk's size.
func (dr *DiskReader) Size() int64 { return dr.g.size }

func (dr *DiskReader) where(off int64, err error) error {
	return fmt.Errorf("point %s disk %s offset %d: %w", dr.pt.ID[:12], dr.name, off, err)
}

// fill copies the blocks of leaf l into buf (which covers the leaf from its first block), reading
// blobs through get, and checks every block against its fingerprint. Blobs in inPlace are in buf
// already and are only checked. Absent blocks are left as they are in buf.
func (dr *DiskReader) fill(li int64, l *leaf, buf []byte, get func(ID) ([]byte, error), inPlace map[ID]bool) error {
	leafOff := li * dr.g.leafBytes()
	for _, e := range l.extents() {
		if inPlace[e.blob] {
			for k := 0; k < e.count; k++ {
				bi := e.start + k
				if fingerprintOf(buf[bi*BlockSize:(bi+1)*BlockSize]) != l.fp[bi] {
					return dr.where(leafOff+int64(bi*BlockSize), corruptf("block of blob %s does not match its fingerprint", e.blob.Short()))
				}
			}
			continue
		}
		data, err := get(e.blob)
		if err != nil {
			return dr.where(leafOff+int64(e.start*BlockSize), err)
		}
		for k := 0; k < e.count; k++ {
			bi := e.start + k
			o := (e.off + k) * BlockSize
			if o+BlockSize > len(data) {
				return dr.where(leafOff+int64(bi*BlockSize), corruptf("blob %s has %d bytes, extent needs block %d", e.blob.Short(), len(data), e.off+k))
			}
			blk := data[o : o+BlockSize]
			if fingerprintOf(blk) != l.fp[bi] {
				return dr.where(leafOff+int64(bi*BlockSize), corruptf("block of blob %s does not match its fingerprint", e.blob.Short()))
			}
			if end := (bi + 1) * BlockSize; end <= len(buf) {
				copy(buf[bi*BlockSize:end], blk)
			} else if bi*BlockSize < len(buf) {
				copy(buf[bi*BlockSize:], blk)
			}
		}
	}
	return nil
}

// ReadAt reads len(p) bytes at off. It is safe for concurrent use.
func (dr *DiskReader) ReadAt(p []byte, off int64) (int, error) {
	ctx := context.Background()
	if off < 0 || off >= dr.g.size {
		return 0, io.EOF
	}
	want := len(p)
	if rest := dr.g.size - off; int64(want) > rest {
		p = p[:rest]
	}
	lb := dr.g.leafBytes()
	buf := make([]byte, lb)
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		li := pos / lb
		clear(buf)
		id, err := nodeAt(ctx, dr.r, dr.root, dr.g, dr.h, 0, li)
		if err != nil {
			return n, dr.where(pos, err)
		}
		if !id.IsZero() {
			l, err := loadLeaf(ctx, dr.r, id, dr.g)
			if err != nil {
				return n, dr.where(pos, err)
			}
			get := func(b ID) ([]byte, error) {
				data, _, err := dr.r.loadBlob(ctx, b, nil)
				return data, err
			}
			if err := dr.fill(li, l, buf, get, nil); err != nil {
				return n, err
			}
		}
		n += copy(p[n:], buf[pos-li*lb:])
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

// firstUse returns the disk offset of the first block in leaves (starting at leaf lo) that uses the
// blob an error is about, or the first leaf's offset.
func (dr *DiskReader) firstUse(lo int64, leaves []*leaf, err error) int64 {
	var be *blobError
	if errors.As(err, &be) {
		for i, l := range leaves {
			if l == nil {
				continue
			}
			for _, e := range l.extents() {
				if e.blob == be.id {
					return (lo+int64(i))*dr.g.leafBytes() + int64(e.start*BlockSize)
				}
			}
		}
	}
	return lo * dr.g.leafBytes()
}
