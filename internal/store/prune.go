package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
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
		rp = append(rp, retention.Point{ID: p.ID, Machine: p.Machine, Time: p.Time, AppConsistent: p.Consistency == AppConsistent, Partial: p.Partial})
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
