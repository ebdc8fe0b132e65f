package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/storage"
)

// pruneState is the store's packs as a prune sees them.
type pruneState struct {
	indexIDs       []ID
	entries        map[ID][]packEntry // pack → blobs (from the index, or from its header if unindexed)
	sizes          map[ID]int64
	orphans        map[ID]bool // packs in no index object
	wasCondemned   map[ID]bool // packs a previous prune condemned in the index
	condemned      map[ID]time.Time
	condemnedNames []string
	chosen         map[ID]ID // live blob → the pack that keeps it
}

func (r *Repo) pruneState(ctx context.Context) (*pruneState, error) {
	st := &pruneState{entries: map[ID][]packEntry{}, sizes: map[ID]int64{}, orphans: map[ID]bool{}, wasCondemned: map[ID]bool{}, condemned: map[ID]time.Time{}}
	r.mu.Lock()
	for id := range r.loaded {
		st.indexIDs = append(st.indexIDs, id)
	}
	r.mu.Unlock()
	sort.Slice(st.indexIDs, func(i, j int) bool { return string(st.indexIDs[i][:]) < string(st.indexIDs[j][:]) })
	for _, id := range st.indexIDs {
		f, err := r.readIndex(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, p := range f.Packs {
			if _, ok := st.entries[p.ID]; !ok {
				st.entries[p.ID] = p.Blobs
			}
		}
		for _, p := range f.Condemned {
			if _, ok := st.entries[p.ID]; !ok {
				st.entries[p.ID] = p.Blobs
				st.wasCondemned[p.ID] = true
			}
		}
	}
	if err := r.be.List(ctx, dataPrefix, func(fi storage.Info) error {
		id, err := crypto.ParseID(fi.Name[strings.LastIndexByte(fi.Name, '/')+1:])
		if err == nil && fi.Name == packName(id) {
			st.sizes[id] = fi.Size
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	for pack := range st.entries {
		if _, ok := st.sizes[pack]; !ok {
			delete(st.entries, pack) // indexed but gone: nothing to keep or delete
		}
	}
	for pack, size := range st.sizes {
		if _, ok := st.entries[pack]; ok {
			continue
		}
		st.orphans[pack] = true
		entries, err := r.readPackTail(ctx, pack, size)
		if err != nil {
			r.opts.Logger.Warn("unindexed pack has no readable header; it will be removed", "pack", pack.Short(), "err", err)
			continue
		}
		st.entries[pack] = entries
		r.index.addPack(pack, entries)
	}
	if err := r.be.List(ctx, condemnedPfx, func(fi storage.Info) error {
		st.condemnedNames = append(st.condemnedNames, fi.Name)
		return nil
	}); err != nil {
		return nil, err
	}
	for _, name := range st.condemnedNames {
		b, err := storage.ReadAll(ctx, r.be, name)
		if err != nil {
			return nil, err
		}
		plain, err := r.keys.Open(nil, b, []byte(condemnedAD))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, name, err)
		}
		t, packs, err := decodeCondemnation(plain)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, id := range packs {
			if old, ok := st.condemned[id]; !ok || t.Before(old) {
				st.condemned[id] = t
			}
		}
	}
	return st, nil
}

// readPackTail reads a pack's header without reading its blobs.
func (r *Repo) readPackTail(ctx context.Context, pack ID, size int64) ([]packEntry, error) {
	if size < 4 {
		return nil, corruptf("pack %s of %d bytes is truncated", pack.Short(), size)
	}
	var hl uint32
	if err := r.be.Load(ctx, packName(pack), size-4, 4, func(rd io.Reader) error {
		return binary.Read(rd, binary.LittleEndian, &hl)
	}); err != nil {
		return nil, err
	}
	if int64(hl)+4 > size || hl > maxPackHeader {
		return nil, corruptf("pack %s header length %d out of range", pack.Short(), hl)
	}
	var tail []byte
	if err := r.be.Load(ctx, packName(pack), size-4-int64(hl), int64(hl), func(rd io.Reader) error {
		var err error
		tail, err = io.ReadAll(rd)
		return err
	}); err != nil {
		return nil, err
	}
	plain, err := r.keys.Open(nil, tail, []byte(packHeaderAD))
	if err != nil {
		return nil, fmt.Errorf("%w: pack %s header: %w", ErrCorrupt, pack.Short(), err)
	}
	return decodePackHeader(plain, uint64(size-4-int64(hl)))
}

// choose picks, for every live blob, the pack that keeps it (indexed packs first), and returns the
// packs to keep and, among them, those to repack.
func (st *pruneState) choose(live map[ID]BlobType, repackBelow float64) (keep, repack map[ID]bool) {
	packs := make([]ID, 0, len(st.entries))
	for p := range st.entries {
		packs = append(packs, p)
	}
	rank := func(p ID) int { // keep live blobs in packs in good standing first
		switch {
		case st.orphans[p]:
			return 2
		case st.wasCondemned[p]:
			return 1
		}
		return 0
	}
	sort.Slice(packs, func(i, j int) bool {
		if ri, rj := rank(packs[i]), rank(packs[j]); ri != rj {
			return ri < rj
		}
		return string(packs[i][:]) < string(packs[j][:])
	})
	st.chosen = map[ID]ID{}
	liveBytes := map[ID]int64{}
	for _, p := range packs {
		for _, e := range st.entries[p] {
			if _, ok := live[e.ID]; !ok {
				continue
			}
			if _, done := st.chosen[e.ID]; done {
				continue
			}
			st.chosen[e.ID] = p
			liveBytes[p] += int64(e.Length)
		}
	}
	keep, repack = map[ID]bool{}, map[ID]bool{}
	for p, lb := range liveBytes {
		keep[p] = true
		if float64(lb) < repackBelow*float64(st.sizes[p]) {
			repack[p] = true
		}
	}
	return keep, repack
}

// decodeCondemnation decodes a prune's record of condemned packs.
func decodeCondemnation(plain []byte) (time.Time, []ID, error) {
	var c condemnation
	if err := json.Unmarshal(plain, &c); err != nil {
		return time.Time{}, nil, corruptf("condemnation: %v", err)
	}
	ids := make([]ID, 0, len(c.Packs))
	for _, s := range c.Packs {
		id, err := crypto.ParseID(s)
		if err != nil {
			return time.Time{}, nil, corruptf("condemnation: %v", err)
		}
		ids = append(ids, id)
	}
	return c.Time, ids, nil
}
