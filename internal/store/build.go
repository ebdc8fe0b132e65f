package store

import (
	"context"
	"sort"
)

// buildTree writes the interior nodes on the paths from changed leaves to the root and returns the
// new root. Subtrees without changes are shared with the base point by ID.
func (dw *DiskWriter) buildTree(ctx context.Context) (ID, error) {
	cur := map[int64]ID{}
	dw.mu.Lock()
	for li, ls := range dw.leaves {
		if ls.changed {
			cur[li] = ls.id
		}
	}
	dw.mu.Unlock()
	hasBase := !dw.baseRoot.IsZero()
	if len(cur) == 0 && dw.h == dw.baseH {
		return dw.baseRoot, nil
	}
	for k := 1; k <= dw.h; k++ {
		// The disk grew past the base tree's height: its root becomes the first child on the way up.
		if hasBase && k-1 == dw.baseH && dw.h > dw.baseH {
			if _, ok := cur[0]; !ok {
				cur[0] = dw.baseRoot
			}
		}
		byParent := map[int64][]int64{}
		for idx := range cur {
			pi := idx / int64(dw.g.fanout)
			byParent[pi] = append(byParent[pi], idx)
		}
		parents := make([]int64, 0, len(byParent))
		for pi := range byParent {
			parents = append(parents, pi)
		}
		sort.Slice(parents, func(i, j int) bool { return parents[i] < parents[j] })
		next := make(map[int64]ID, len(parents))
		for _, pi := range parents {
			node := newInterior(dw.g.fanout)
			if hasBase && k <= dw.baseH {
				bid, err := nodeAt(ctx, dw.w, dw.baseRoot, dw.baseG, dw.baseH, k, pi)
				if err != nil {
					return ID{}, err
				}
				if !bid.IsZero() {
					base, err := loadInterior(ctx, dw.w, bid, dw.g)
					if err != nil {
						return ID{}, err
					}
					copy(node.children, base.children)
				}
			}
			for _, idx := range byParent[pi] {
				node.children[idx%int64(dw.g.fanout)] = cur[idx]
			}
			if node.empty() {
				next[pi] = ID{}
				continue
			}
			enc := encodeInterior(node)
			id := dw.w.r.keys.Hash(enc)
			if _, err := dw.w.p.add(id, TreeBlob, enc); err != nil {
				return ID{}, err
			}
			dw.w.r.nodes.put(id, node)
			next[pi] = id
		}
		cur = next
	}
	if root, ok := cur[0]; ok {
		return root, nil
	}
	return dw.baseRoot, nil
}
