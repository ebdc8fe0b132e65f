package store

import (
	"container/list"
	"context"
	"fmt"
	"sync"
)

// nodeCache keeps decoded tree nodes (immutable once decoded) by ID, least recently used out first.
type nodeCache struct {
	mu  sync.Mutex
	cap int
	ll  *list.List
	m   map[ID]*list.Element
}

type cached struct {
	id   ID
	node any // *leaf or *interior
}

func newNodeCache(capacity int) *nodeCache {
	return &nodeCache{cap: capacity, ll: list.New(), m: map[ID]*list.Element{}}
}

func (c *nodeCache) get(id ID) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*cached).node, true
	}
	return nil, false
}

func (c *nodeCache) put(id ID, node any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok {
		c.ll.MoveToFront(e)
		return
	}
	c.m[id] = c.ll.PushFront(&cached{id: id, node: node})
	for c.ll.Len() > c.cap {
		e := c.ll.Back()
		c.ll.Remove(e)
		delete(c.m, e.Value.(*cached).id)
	}
}

// decodeNode decodes a tree blob's plaintext into a *leaf or an *interior.
func decodeNode(plain []byte) (any, error) {
	if len(plain) == 0 {
		return nil, corruptf("empty tree node")
	}
	switch plain[0] {
	case 'L':
		return decodeLeaf(plain)
	case 'I':
		return decodeInterior(plain)
	}
	return nil, corruptf("unknown tree node type %q", plain[0])
}

// nodeSource loads tree nodes; writers wrap it to see the nodes they have not uploaded yet.
type nodeSource interface {
	node(ctx context.Context, id ID) (any, error)
}

func (r *Repo) node(ctx context.Context, id ID) (any, error) {
	if n, ok := r.nodes.get(id); ok {
		return n, nil
	}
	plain, loc, err := r.loadBlob(ctx, id, nil)
	if err != nil {
		return nil, err
	}
	if loc.Type != TreeBlob {
		return nil, corruptf("blob %s is a %s blob where a tree node was expected", id.Short(), loc.Type)
	}
	n, err := decodeNode(plain)
	if err != nil {
		return nil, fmt.Errorf("tree node %s in pack %s: %w", id.Short(), loc.Pack.Short(), err)
	}
	r.nodes.put(id, n)
	return n, nil
}

func loadLeaf(ctx context.Context, src nodeSource, id ID, g geometry) (*leaf, error) {
	n, err := src.node(ctx, id)
	if err != nil {
		return nil, err
	}
	l, ok := n.(*leaf)
	if !ok || l.span != g.leafBlocks {
		return nil, corruptf("node %s is not a leaf of %d blocks", id.Short(), g.leafBlocks)
	}
	return l, nil
}

func loadInterior(ctx context.Context, src nodeSource, id ID, g geometry) (*interior, error) {
	n, err := src.node(ctx, id)
	if err != nil {
		return nil, err
	}
	in, ok := n.(*interior)
	if !ok || in.fanout != g.fanout {
		return nil, corruptf("node %s is not an interior node of fanout %d", id.Short(), g.fanout)
	}
	return in, nil
}

// nodeAt returns the ID of the node at level k, index i of the tree rooted at root (of height h),
// or the zero ID where that part of the disk is all zeros.
func nodeAt(ctx context.Context, src nodeSource, root ID, g geometry, h, k int, i int64) (ID, error) {
	if k > h {
		return ID{}, fmt.Errorf("level %d above root level %d", k, h)
	}
	if i >= ceilDiv(g.leaves(), g.span(k)) {
		return ID{}, nil
	}
	id := root
	for lvl := h; lvl > k && !id.IsZero(); lvl-- {
		in, err := loadInterior(ctx, src, id, g)
		if err != nil {
			return ID{}, err
		}
		slot := (i / g.span(lvl-1-k)) % int64(g.fanout)
		id = in.children[slot]
	}
	return id, nil
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
