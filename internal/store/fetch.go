package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/opensiterecovery/osr/internal/storage"
)

// Ranges of one pack closer than fetchGap are read in one request; no request reads more than
// fetchMax bytes.
const (
	fetchGap = 256 << 10
	fetchMax = 8 << 20
)

type fetchItem struct {
	id  ID
	loc blobLoc
}

// blobError is an error about one blob, so that callers can say where on a disk it hits.
type blobError struct {
	id  ID
	err error
}

func (e *blobError) Error() string { return e.err.Error() }
func (e *blobError) Unwrap() error { return e.err }

// loadBlobs reads many blobs with few requests: it groups them by pack, sorts them by offset and
// reads neighbouring blobs in one ranged load. fn is called once per distinct blob, from this
// goroutine, with the authenticated plaintext (valid only during the call). A blob missing from the
// index is an error naming it.
func (r *Repo) loadBlobs(ctx context.Context, ids []ID, fn func(id ID, loc blobLoc, plain []byte) error) error {
	byPack := map[ID][]fetchItem{}
	seen := make(map[ID]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		loc, ok := r.index.Lookup(id)
		if !ok {
			return fmt.Errorf("%w: blob %s is not in the index", ErrCorrupt, id.Short())
		}
		byPack[loc.Pack] = append(byPack[loc.Pack], fetchItem{id, loc})
	}
	packs := make([]ID, 0, len(byPack))
	for p := range byPack {
		packs = append(packs, p)
	}
	sort.Slice(packs, func(i, j int) bool { return string(packs[i][:]) < string(packs[j][:]) })
	var plain []byte
	for _, pack := range packs {
		items := byPack[pack]
		sort.Slice(items, func(i, j int) bool { return items[i].loc.Offset < items[j].loc.Offset })
		for len(items) > 0 {
			start := int64(items[0].loc.Offset)
			end := start + int64(items[0].loc.Length)
			n := 1
			for n < len(items) {
				o := int64(items[n].loc.Offset)
				e := o + int64(items[n].loc.Length)
				if o-end > fetchGap || e-start > fetchMax {
					break
				}
				end = max(end, e)
				n++
			}
			group := items[:n]
			items = items[n:]
			var buf []byte
			err := r.be.Load(ctx, packName(pack), start, end-start, func(rd io.Reader) error {
				if cap(buf) < int(end-start) {
					buf = make([]byte, end-start)
				}
				buf = buf[:end-start]
				_, err := io.ReadFull(rd, buf)
				return err
			})
			if err != nil {
				return &blobError{id: group[0].id, err: r.packLoadError(ctx, pack, start, end-start, err)}
			}
			for _, it := range group {
				o := int64(it.loc.Offset) - start
				stored := buf[o : o+int64(it.loc.Length)]
				plain, err = r.codec.open(plain[:0], it.id, stored, int(it.loc.RawLength))
				if err != nil {
					return &blobError{id: it.id, err: fmt.Errorf("pack %s offset %d: %w", pack.Short(), it.loc.Offset, err)}
				}
				if err := fn(it.id, it.loc, plain); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// prefetchNodes loads the given tree nodes into the node cache with few requests.
func (r *Repo) prefetchNodes(ctx context.Context, ids []ID) error {
	todo := ids[:0:0]
	for _, id := range ids {
		if _, ok := r.nodes.get(id); !ok && !id.IsZero() {
			todo = append(todo, id)
		}
	}
	return r.loadBlobs(ctx, todo, func(id ID, loc blobLoc, plain []byte) error {
		if loc.Type != TreeBlob {
			return corruptf("blob %s is a %s blob where a tree node was expected", id.Short(), loc.Type)
		}
		n, err := decodeNode(plain)
		if err != nil {
			return fmt.Errorf("tree node %s in pack %s: %w", id.Short(), loc.Pack.Short(), err)
		}
		r.nodes.put(id, n)
		return nil
	})
}

// leafIDs returns the IDs of leaves lo..hi-1 (zero where absent) of a tree, loading interior nodes
// on the way with prefetching.
func leafIDs(ctx context.Context, r *Repo, src nodeSource, root ID, g geometry, h int, lo, hi int64) ([]ID, error) {
	out := make([]ID, hi-lo)
	if root.IsZero() {
		return out, nil
	}
	if h == 0 {
		if lo == 0 && hi > 0 {
			out[0] = root
		}
		return out, nil
	}
	// Level-1 nodes (parents of leaves) for the range, then their children.
	p0, p1 := lo/int64(g.fanout), ceilDiv(hi, int64(g.fanout))
	parents := make([]ID, 0, p1-p0)
	for pi := p0; pi < p1; pi++ {
		id, err := nodeAt(ctx, src, root, g, h, 1, pi)
		if err != nil {
			return nil, err
		}
		parents = append(parents, id)
	}
	if err := r.prefetchNodes(ctx, parents); err != nil {
		return nil, err
	}
	for k, pid := range parents {
		if pid.IsZero() {
			continue
		}
		in, err := loadInterior(ctx, src, pid, g)
		if err != nil {
			return nil, err
		}
		for s, c := range in.children {
			li := (p0+int64(k))*int64(g.fanout) + int64(s)
			if li >= lo && li < hi {
				out[li-lo] = c
			}
		}
	}
	return out, nil
}

// packLoadError explains a failed ranged load of a pack: a missing pack, or one shorter than the
// index says, is damage (ErrCorrupt); anything else is passed on.
func (r *Repo) packLoadError(ctx context.Context, pack ID, off, length int64, err error) error {
	if storage.IsNotFound(err) {
		return fmt.Errorf("%w: pack %s is missing: %w", ErrCorrupt, pack.Short(), err)
	}
	if errors.Is(err, ErrCorrupt) || ctx.Err() != nil {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: pack %s is shorter than the index says (%d bytes at %d)", ErrCorrupt, pack.Short(), length, off)
	}
	if fi, serr := r.be.Stat(ctx, packName(pack)); serr == nil && fi.Size < off+length {
		return fmt.Errorf("%w: pack %s has %d bytes, shorter than the index says (%d bytes at %d)", ErrCorrupt, pack.Short(), fi.Size, length, off)
	}
	return fmt.Errorf("read pack %s: %w", pack.Short(), err)
}
