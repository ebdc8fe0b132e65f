package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/zeebo/blake3"
	"golang.org/x/sync/errgroup"

	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/storage"
)

// CheckOptions tune Check.
type CheckOptions struct {
	ReadData bool              // read and verify every byte of every pack
	Progress func(bytes int64) // with ReadData: pack bytes verified
}

// CheckReport lists what Check found. Problems are errors: the store cannot give back some data.
// Notes are harmless findings, such as leftovers of an interrupted writer that a prune removes.
type CheckReport struct {
	Points, Packs, Blobs int
	PackBytes            int64
	Problems             []string
	Notes                []string
}

// Check verifies the store's structure: every point decodes, every tree node and data blob a point
// references is indexed and stored in a pack of the right size. With ReadData it also reads every
// pack, authenticates and decodes every blob and checks each blob's keyed hash. Damage is reported
// with the point, disk, offset and object it hits.
func (r *Repo) Check(ctx context.Context, opts CheckOptions) (*CheckReport, error) {
	rep := &CheckReport{}
	var mu sync.Mutex
	problem := func(format string, args ...any) {
		mu.Lock()
		rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	// Points first, then the index: every index object a listed point needs was written before it.
	var pointIDs []string
	if err := r.be.List(ctx, pointsPrefix, func(fi storage.Info) error {
		pointIDs = append(pointIDs, strings.TrimPrefix(fi.Name, pointsPrefix))
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list points: %w", err)
	}
	if err := r.ReloadIndex(ctx); err != nil {
		return nil, err
	}
	packSizes := map[ID]int64{}
	if err := r.be.List(ctx, dataPrefix, func(fi storage.Info) error {
		base := fi.Name[strings.LastIndexByte(fi.Name, '/')+1:]
		id, err := crypto.ParseID(base)
		if err != nil || fi.Name != packName(id) {
			rep.Notes = append(rep.Notes, fmt.Sprintf("object %s is not a pack name", fi.Name))
			return nil
		}
		packSizes[id] = fi.Size
		rep.PackBytes += fi.Size
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	rep.Packs, rep.Blobs = len(packSizes), r.index.Len()
	// Index entries against pack sizes.
	bad := map[ID]string{} // blob → why it cannot be read
	indexed := r.index.packSet()
	r.index.Each(func(id ID, loc blobLoc) {
		size, ok := packSizes[loc.Pack]
		switch {
		case !ok:
			bad[id] = fmt.Sprintf(": pack %s is missing", loc.Pack.Short())
		case int64(loc.Offset)+int64(loc.Length) > size:
			bad[id] = fmt.Sprintf(": pack %s has %d bytes, index places it at %d+%d", loc.Pack.Short(), size, loc.Offset, loc.Length)
		}
	})
	for id := range packSizes {
		if !indexed[id] {
			rep.Notes = append(rep.Notes, fmt.Sprintf("pack %s is not indexed (left by an interrupted writer or a prune; prune removes it)", id.Short()))
		}
	}
	if opts.ReadData {
		if err := r.readPacks(ctx, packSizes, indexed, bad, problem, opts.Progress); err != nil {
			return nil, err
		}
	}
	// Points and their trees.
	memo := &checkMemo{clean: map[ID]bool{}}
	for _, pid := range pointIDs {
		pt, err := r.LoadPoint(ctx, pid)
		if err != nil {
			if errors.Is(err, ErrNoPoint) {
				continue // removed meanwhile by a prune
			}
			problem("point %s: %v", pid, err)
			continue
		}
		rep.Points++
		for i := range pt.Disks {
			d := &pt.Disks[i]
			root, _ := d.root()
			if root.IsZero() {
				continue
			}
			g := d.geometry()
			w := &treeCheck{r: r, pt: pt, disk: d.Name, g: g, bad: bad, memo: memo, problem: problem}
			w.walk(ctx, root, g.height(), 0)
		}
	}
	sort.Strings(rep.Problems)
	sort.Strings(rep.Notes)
	return rep, ctx.Err()
}

// readPacks verifies every pack byte by byte and records damaged blobs in bad.
func (r *Repo) readPacks(ctx context.Context, sizes map[ID]int64, indexed map[ID]bool, bad map[ID]string,
	problem func(string, ...any), progress func(int64)) error {
	var mu sync.Mutex
	byPack := map[ID][]fetchItem{}
	r.index.Each(func(id ID, loc blobLoc) { byPack[loc.Pack] = append(byPack[loc.Pack], fetchItem{id, loc}) })
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Concurrency)
	for pack, size := range sizes {
		g.Go(func() error {
			data, err := storage.ReadAll(gctx, r.be, packName(pack))
			if progress != nil {
				progress(size)
			}
			if err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				problem("pack %s: cannot be read: %v", pack.Short(), err)
				return nil
			}
			var damaged []string
			if ID(blake3.Sum256(data)) != pack {
				damaged = append(damaged, "content does not match its name (hash)")
			}
			if _, herr := readPackHeader(r.keys, data); herr != nil {
				damaged = append(damaged, "header: "+herr.Error())
			}
			if len(damaged) > 0 && indexed[pack] {
				problem("pack %s is damaged: %s", pack.Short(), strings.Join(damaged, "; "))
			}
			// Check each indexed blob of this pack on its own, so one bad byte names one blob.
			var plain []byte
			for _, it := range byPack[pack] {
				id, loc := it.id, it.loc
				end := int64(loc.Offset) + int64(loc.Length)
				var why string
				if end > int64(len(data)) {
					why = "beyond the end of its pack"
				} else if p, err := r.codec.open(plain[:0], id, data[loc.Offset:end], int(loc.RawLength)); err != nil {
					why = err.Error()
				} else {
					plain = p
					if r.keys.Hash(plain) != id {
						why = "content does not match its ID"
					}
				}
				if why != "" {
					mu.Lock()
					bad[id] = fmt.Sprintf(" in pack %s at %d is damaged: %s", pack.Short(), loc.Offset, why)
					mu.Unlock()
				}
			}
			return nil
		})
	}
	return g.Wait()
}

type checkMemo struct {
	mu    sync.Mutex
	clean map[ID]bool // subtrees verified clean
}

type treeCheck struct {
	r       *Repo
	pt      *Point
	disk    string
	g       geometry
	bad     map[ID]string
	memo    *checkMemo
	problem func(string, ...any)
}

func (c *treeCheck) at(off int64) string {
	return fmt.Sprintf("point %s disk %s offset %d", c.pt.ID[:12], c.disk, off)
}

// walk checks the subtree id at level k whose first leaf is leaf; it reports whether it is clean.
func (c *treeCheck) walk(ctx context.Context, id ID, k int, first int64) bool {
	c.memo.mu.Lock()
	done := c.memo.clean[id]
	c.memo.mu.Unlock()
	if done || ctx.Err() != nil {
		return true
	}
	off := first * c.g.leafBytes()
	if why, ok := c.bad[id]; ok {
		c.problem("%s: tree node %s%s", c.at(off), id.Short(), why)
		return false
	}
	clean := true
	if k == 0 {
		l, err := loadLeaf(ctx, c.r, id, c.g)
		if err != nil {
			c.problem("%s: tree node %s: %v", c.at(off), id.Short(), err)
			return false
		}
		for _, e := range l.extents() {
			eoff := off + int64(e.start*BlockSize)
			loc, ok := c.r.index.Lookup(e.blob)
			switch {
			case !ok:
				c.problem("%s: data blob %s is not in the index", c.at(eoff), e.blob.Short())
				clean = false
			case c.bad[e.blob] != "":
				c.problem("%s: data blob %s%s", c.at(eoff), e.blob.Short(), c.bad[e.blob])
				clean = false
			case loc.Type != DataBlob:
				c.problem("%s: blob %s is a %s blob, not data", c.at(eoff), e.blob.Short(), loc.Type)
				clean = false
			case (e.off+e.count)*BlockSize > int(loc.RawLength):
				c.problem("%s: data blob %s has %d bytes, the leaf needs %d", c.at(eoff), e.blob.Short(), loc.RawLength, (e.off+e.count)*BlockSize)
				clean = false
			}
		}
	} else {
		in, err := loadInterior(ctx, c.r, id, c.g)
		if err != nil {
			c.problem("%s: tree node %s: %v", c.at(off), id.Short(), err)
			return false
		}
		for s, child := range in.children {
			if child.IsZero() {
				continue
			}
			cf := first + int64(s)*c.g.span(k-1)
			if cf >= c.g.leaves() {
				c.problem("%s: tree node %s has a child beyond the end of the disk", c.at(off), id.Short())
				clean = false
				continue
			}
			if !c.walk(ctx, child, k-1, cf) {
				clean = false
			}
		}
	}
	if clean {
		c.memo.mu.Lock()
		c.memo.clean[id] = true
		c.memo.mu.Unlock()
	}
	return clean
}
