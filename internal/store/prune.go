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
	"github.com/opensiterecovery/osr/internal/retention"
	"github.com/opensiterecovery/osr/internal/storage"
)

// PruneOptions tune Prune.
type PruneOptions struct {
	Policy      retention.Policy
	DryRun      bool    // decide and report, change nothing
	RepackBelow float64 // repack packs whose live share of bytes is below this; default 0.5
	// SkewMargin is added to a condemnation's time when comparing it with other hosts' lock times.
	SkewMargin time.Duration
}

// PruneReport says what Prune did (or, dry, would do).
type PruneReport struct {
	Kept, Forgotten []*Point
	Reasons         map[string]string // point ID → why kept
	PacksDeleted    int
	BytesDeleted    int64
	PacksRepacked   int
	PacksDeferred   int // unreferenced, kept until older readers and writers are gone
	PacksRescued    int // unindexed packs that a point needs, indexed again
	IndexesReplaced int
}

type condemnation struct {
	Time  time.Time `json:"time"`
	Packs []string  `json:"packs"`
}

const condemnedAD = "osr condemned v1"

// Prune thins recovery points by the policy, then removes data no remaining point references and
// repacks packs with little live data. It is safe while writers and readers work: what it finds
// unreferenced is first taken out of the index, and deleted only when no reader or writer that
// could still use it is alive (at once when none is; otherwise by a later prune).
func (r *Repo) Prune(ctx context.Context, opts PruneOptions) (*PruneReport, error) {
	if err := opts.Policy.Validate(); err != nil {
		return nil, err
	}
	if opts.RepackBelow == 0 {
		opts.RepackBelow = 0.5
	}
	if opts.SkewMargin == 0 {
		opts.SkewMargin = 2 * time.Minute
	}
	lock, err := r.Lock(ctx, LockPrune)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if n, err := r.RemoveStaleLocks(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		r.opts.Logger.Info("removed stale locks", "count", n)
	}
	if err := r.ReloadIndex(ctx); err != nil {
		return nil, err
	}
	st, err := r.pruneState(ctx)
	if err != nil {
		return nil, err
	}
	rep := &PruneReport{}

	// 1. Thin points.
	pts, err := r.points(ctx, "", true)
	if err != nil {
		return nil, err
	}
	byID := map[string]*Point{}
	var rp []retention.Point
	for _, p := range pts {
		byID[p.ID] = p
		rp = append(rp, retention.Point{ID: p.ID, Machine: p.Machine, Time: p.Time, AppConsistent: p.Consistency == AppConsistent})
	}
	dec := retention.Apply(opts.Policy, r.opts.Clock.Now(), rp)
	rep.Reasons = dec.Reasons
	for _, p := range dec.Keep {
		rep.Kept = append(rep.Kept, byID[p.ID])
	}
	for _, p := range dec.Forget {
		rep.Forgotten = append(rep.Forgotten, byID[p.ID])
	}
	if !opts.DryRun {
		for _, p := range rep.Forgotten {
			if err := r.be.Delete(ctx, pointsPrefix+p.ID); err != nil && !storage.IsNotFound(err) {
				return rep, fmt.Errorf("forget point %s: %w", p.ID, err)
			}
		}
	}

	// 2. What remaining points use, and where each live blob will be kept.
	live := map[ID]BlobType{}
	if err := r.liveSet(ctx, rep.Kept, live); err != nil {
		return rep, fmt.Errorf("cannot prune, the store is damaged (run 'osr store check'): %w", err)
	}
	keep, repack := st.choose(live, opts.RepackBelow)
	dead := map[ID]bool{}
	for pack := range st.sizes {
		if !keep[pack] {
			dead[pack] = true
		}
	}
	for pack := range keep {
		if st.orphans[pack] || st.wasCondemned[pack] {
			rep.PacksRescued++ // a point committed since a prune condemned it, or a lost index
		}
	}
	if opts.DryRun {
		rep.PacksRepacked, rep.PacksDeleted = len(repack), len(dead)+len(repack)
		for p := range dead {
			rep.BytesDeleted += st.sizes[p]
		}
		return rep, nil
	}

	// 3. Repack: copy live blobs of sparse packs into new packs (their own index object).
	if len(repack) > 0 {
		p := newPacker(ctx, r)
		p.force = true
		var ids []ID
		for pack := range repack {
			for _, e := range st.entries[pack] {
				if _, ok := live[e.ID]; ok && st.chosen[e.ID] == pack {
					ids = append(ids, e.ID)
				}
			}
		}
		if err := r.loadBlobs(ctx, ids, func(id ID, loc blobLoc, plain []byte) error {
			_, err := p.add(id, loc.Type, plain)
			return err
		}); err != nil {
			p.fail(err)
			p.wait()
			return rep, fmt.Errorf("repack: %w", err)
		}
		if err := p.flush(); err != nil {
			return rep, fmt.Errorf("repack: %w", err)
		}
		for pack := range repack {
			dead[pack] = true
			delete(keep, pack)
		}
		rep.PacksRepacked = len(repack)
	}

	// 4. One index object replaces the index objects read: kept packs, and the dead ones as
	// condemned (readable by points that writers of this time may still commit, never deduplicated
	// against) until they are deleted.
	nf := &indexFile{Supersedes: st.indexIDs, Packs: packList(keep, st), Condemned: packList(dead, st)}
	if _, err := r.writeIndex(ctx, nf); err != nil {
		return rep, err
	}
	for _, id := range st.indexIDs {
		if err := r.be.Delete(ctx, indexPrefix+id.String()); err != nil && !storage.IsNotFound(err) {
			return rep, fmt.Errorf("remove replaced index %s: %w", id.Short(), err)
		}
	}
	rep.IndexesReplaced = len(st.indexIDs)
	decided := r.opts.Clock.Now().UTC()

	// 5. Delete what no one alive can use; condemn the rest for a later prune.
	locks, err := r.Locks(ctx)
	if err != nil {
		return rep, err
	}
	var oldest time.Time // creation of the oldest live lock of another session
	for _, l := range locks {
		if l.Name == lock.name || r.stale(l) {
			continue
		}
		if oldest.IsZero() || l.Created.Before(oldest) {
			oldest = l.Created
		}
	}
	deletable := map[ID]bool{}
	for pack := range dead {
		if oldest.IsZero() {
			deletable[pack] = true
			continue
		}
		if t, ok := st.condemned[pack]; ok && oldest.After(t.Add(opts.SkewMargin)) {
			deletable[pack] = true
		}
	}
	if err := r.rescueLate(ctx, byID, deletable, st, rep); err != nil {
		return rep, err
	}
	var later condemnation
	later.Time = decided
	for pack := range dead {
		if deletable[pack] {
			if err := r.be.Delete(ctx, packName(pack)); err != nil && !storage.IsNotFound(err) {
				return rep, fmt.Errorf("delete pack %s: %w", pack.Short(), err)
			}
			rep.PacksDeleted++
			rep.BytesDeleted += st.sizes[pack]
			continue
		}
		rep.PacksDeferred++
		if t, ok := st.condemned[pack]; ok && t.Before(later.Time) {
			later.Time = t // keep the earliest decision: the pack has been out of the index since
		}
		later.Packs = append(later.Packs, pack.String())
	}
	if len(later.Packs) > 0 {
		b, _ := json.Marshal(later)
		if err := putBytes(ctx, r.be, condemnedPfx+crypto.RandomID().String(), r.keys.Seal(nil, b, []byte(condemnedAD))); err != nil {
			return rep, fmt.Errorf("write condemnation: %w", err)
		}
	}
	for _, name := range st.condemnedNames {
		if err := r.be.Delete(ctx, name); err != nil && !storage.IsNotFound(err) {
			return rep, err
		}
	}
	return rep, nil
}

// packList returns the index entries of a set of packs, sorted by pack ID.
func packList(set map[ID]bool, st *pruneState) []indexPack {
	out := make([]indexPack, 0, len(set))
	for pack := range set {
		if e, ok := st.entries[pack]; ok {
			out = append(out, indexPack{ID: pack, Blobs: e})
		}
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].ID[:]) < string(out[j].ID[:]) })
	return out
}

// rescueLate keeps deletable packs that points committed during the prune still need, and indexes
// them again.
func (r *Repo) rescueLate(ctx context.Context, seen map[string]*Point, deletable map[ID]bool, st *pruneState, rep *PruneReport) error {
	pts, err := r.points(ctx, "", true)
	if err != nil {
		return err
	}
	var late []*Point
	for _, p := range pts {
		if seen[p.ID] == nil {
			late = append(late, p)
		}
	}
	if len(late) == 0 {
		return nil
	}
	if err := r.ReloadIndex(ctx); err != nil {
		return err
	}
	for pack := range deletable { // make the condemned blobs readable for the walk
		r.index.addPack(pack, st.entries[pack])
	}
	live := map[ID]BlobType{}
	if err := r.liveSet(ctx, late, live); err != nil {
		return fmt.Errorf("walk points committed during the prune: %w", err)
	}
	var rescued []indexPack
	for pack := range deletable {
		for _, e := range st.entries[pack] {
			if _, ok := live[e.ID]; ok {
				rescued = append(rescued, indexPack{ID: pack, Blobs: st.entries[pack]})
				delete(deletable, pack)
				break
			}
		}
	}
	if len(rescued) > 0 {
		if _, err := r.writeIndex(ctx, &indexFile{Packs: rescued}); err != nil {
			return err
		}
		rep.PacksRescued += len(rescued)
	}
	return nil
}

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
		var c condemnation
		plain, err := r.keys.Open(nil, b, []byte(condemnedAD))
		if err == nil {
			err = json.Unmarshal(plain, &c)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, name, err)
		}
		for _, s := range c.Packs {
			if id, err := crypto.ParseID(s); err == nil {
				if t, ok := st.condemned[id]; !ok || c.Time.Before(t) {
					st.condemned[id] = c.Time
				}
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
