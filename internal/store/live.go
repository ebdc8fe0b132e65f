package store

import (
	"context"
	"fmt"
)

// liveSet walks the trees of points and returns every blob they reference. A node that cannot be
// read is an error: a prune must never decide on an incomplete picture.
func (r *Repo) liveSet(ctx context.Context, pts []*Point, live map[ID]BlobType) error {
	for _, pt := range pts {
		for i := range pt.Disks {
			d := &pt.Disks[i]
			root, err := d.root()
			if err != nil {
				return err
			}
			if root.IsZero() {
				continue
			}
			g := d.geometry()
			if err := r.markLive(ctx, root, g, g.height(), live); err != nil {
				return fmt.Errorf("point %s disk %s: %w", pt.ID[:12], d.Name, err)
			}
		}
	}
	return nil
}

func (r *Repo) markLive(ctx context.Context, id ID, g geometry, k int, live map[ID]BlobType) error {
	if _, ok := live[id]; ok {
		return nil // shared subtree already walked
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	live[id] = TreeBlob
	if k == 0 {
		l, err := loadLeaf(ctx, r, id, g)
		if err != nil {
			return err
		}
		for _, e := range l.extents() {
			live[e.blob] = DataBlob
		}
		return nil
	}
	in, err := loadInterior(ctx, r, id, g)
	if err != nil {
		return err
	}
	var children []ID
	for _, c := range in.children {
		if !c.IsZero() {
			if _, ok := live[c]; !ok {
				children = append(children, c)
			}
		}
	}
	if k == 1 {
		if err := r.prefetchNodes(ctx, children); err != nil {
			return err
		}
	}
	for _, c := range children {
		if err := r.markLive(ctx, c, g, k-1, live); err != nil {
			return err
		}
	}
	return nil
}
