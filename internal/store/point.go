package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/storage"
)

// Consistency of a recovery point.
type Consistency string

const (
	CrashConsistent Consistency = "crash"
	AppConsistent   Consistency = "app"
	// NoConsistency marks a partial point: a chunk of an initial replication, not an image of any
	// instant.
	NoConsistency Consistency = "none"
)

// Point is a recovery point: all disks of one machine at one instant.
type Point struct {
	Version     int         `json:"version"`
	ID          string      `json:"id"`
	Machine     string      `json:"machine"`
	Time        time.Time   `json:"time"` // the instant the disks were captured
	Consistency Consistency `json:"consistency"`
	Parent      string      `json:"parent,omitempty"`
	// Partial is set on a point of an initial replication still in progress: its disks hold what
	// was copied so far. It is never offered for recovery and retention drops it once a newer
	// point exists.
	Partial bool `json:"partial,omitempty"`
	// Labels are what the writer of the point wants to find again (the replication pipeline keeps
	// its sequence numbers and initial-replication cursors here).
	Labels    map[string]string `json:"labels,omitempty"`
	Hostname  string            `json:"hostname,omitempty"`
	Committed time.Time         `json:"committed"`
	Disks     []DiskPoint       `json:"disks"`
	Stats     PointStats        `json:"stats"`
}

// DiskPoint is one disk of a point.
type DiskPoint struct {
	Name       string `json:"name"`
	Size       int64  `json:"size"`
	BlockSize  int    `json:"block_size"`
	LeafBlocks int    `json:"leaf_blocks"`
	Fanout     int    `json:"fanout"`
	Root       string `json:"root,omitempty"` // empty: all zeros
}

// PointStats says what a point added to the store.
type PointStats struct {
	BlocksWritten int64 `json:"blocks_written"` // blocks whose content changed
	DataBlobs     int64 `json:"data_blobs"`     // new data blobs stored
	TreeBlobs     int64 `json:"tree_blobs"`     // new tree nodes stored
	DataBytes     int64 `json:"data_bytes"`     // stored bytes of new data blobs
	TreeBytes     int64 `json:"tree_bytes"`     // stored bytes of new tree nodes
	Packs         int64 `json:"packs"`
}

// Disk returns the named disk of the point.
func (p *Point) Disk(name string) (*DiskPoint, bool) {
	for i := range p.Disks {
		if p.Disks[i].Name == name {
			return &p.Disks[i], true
		}
	}
	return nil, false
}

func (d *DiskPoint) geometry() geometry {
	return geometry{size: d.Size, blockSize: d.BlockSize, leafBlocks: d.LeafBlocks, fanout: d.Fanout}
}

func (d *DiskPoint) root() (ID, error) {
	if d.Root == "" {
		return ID{}, nil
	}
	return crypto.ParseID(d.Root)
}

const pointAD = "osr point v1"

// ErrNoPoint is wrapped by errors about a point that does not exist.
var ErrNoPoint = errors.New("no such recovery point")

func (p *Point) validate() error {
	if p.Version != 1 {
		return fmt.Errorf("point version %d is not supported (this osr reads version 1)", p.Version)
	}
	if p.Machine == "" || len(p.Disks) == 0 {
		return errors.New("point has no machine or no disks")
	}
	switch {
	case p.Partial && p.Consistency != NoConsistency:
		return fmt.Errorf("partial point has consistency %q, want %q", p.Consistency, NoConsistency)
	case !p.Partial && p.Consistency != CrashConsistent && p.Consistency != AppConsistent:
		return fmt.Errorf("point has unknown consistency %q", p.Consistency)
	}
	seen := map[string]bool{}
	for i := range p.Disks {
		d := &p.Disks[i]
		if seen[d.Name] || d.Name == "" {
			return fmt.Errorf("point has an empty or repeated disk name %q", d.Name)
		}
		seen[d.Name] = true
		if err := d.geometry().validate(); err != nil {
			return fmt.Errorf("disk %s: %w", d.Name, err)
		}
		if _, err := d.root(); err != nil {
			return fmt.Errorf("disk %s: %w", d.Name, err)
		}
	}
	return nil
}

func (r *Repo) savePoint(ctx context.Context, p *Point) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return putBytes(ctx, r.be, pointsPrefix+p.ID, r.keys.Seal(nil, b, []byte(pointAD)))
}

// LoadPoint reads one point by its full ID.
func (r *Repo) LoadPoint(ctx context.Context, id string) (*Point, error) {
	name := pointsPrefix + id
	b, err := storage.ReadAll(ctx, r.be, name)
	if err != nil {
		if storage.IsNotFound(err) {
			return nil, fmt.Errorf("recovery point %s does not exist: %w", id, ErrNoPoint)
		}
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	plain, err := r.keys.Open(nil, b, []byte(pointAD))
	if err != nil {
		return nil, fmt.Errorf("%w: point object %s: %w", ErrCorrupt, name, err)
	}
	var p Point
	if err := json.Unmarshal(plain, &p); err != nil {
		return nil, fmt.Errorf("%w: point object %s: %w", ErrCorrupt, name, err)
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("%w: point object %s: %w", ErrCorrupt, name, err)
	}
	if p.ID != id {
		return nil, corruptf("point object %s holds point %s", name, p.ID)
	}
	return &p, nil
}

// Points lists recovery points, of one machine when machine is not empty, oldest first. A point
// object that cannot be read is left out with a warning (check reports it), so that one damaged
// point does not hide the others.
func (r *Repo) Points(ctx context.Context, machine string) ([]*Point, error) {
	return r.points(ctx, machine, false)
}

// points lists points; strict makes an unreadable point an error, as prune needs: it must never
// delete data because it could not read the point that uses it.
func (r *Repo) points(ctx context.Context, machine string, strict bool) ([]*Point, error) {
	var ids []string
	if err := r.be.List(ctx, pointsPrefix, func(fi storage.Info) error {
		ids = append(ids, strings.TrimPrefix(fi.Name, pointsPrefix))
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list points: %w", err)
	}
	pts := make([]*Point, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, id := range ids {
		g.Go(func() error {
			p, err := r.LoadPoint(gctx, id)
			if errors.Is(err, ErrNoPoint) || (!strict && errors.Is(err, ErrCorrupt)) {
				return nil // removed by a prune since the listing, or damaged
			}
			pts[i] = p
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// Every index object a listed point needs was written before it: load them now, so that any
	// point returned here can be read.
	if err := r.LoadIndex(ctx); err != nil {
		return nil, err
	}
	out := pts[:0]
	for i, p := range pts {
		if p == nil { // damaged: reported by check, must not hide the other points
			r.opts.Logger.Warn("recovery point cannot be read; skipped", "point", ids[i])
			continue
		}
		if machine == "" || p.Machine == machine {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		if !out[i].Committed.Equal(out[j].Committed) {
			return out[i].Committed.Before(out[j].Committed)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// ResolvePoint finds a point of machine by "latest", "latest-app", a full ID or a unique prefix of
// at least 8 hex digits.
func (r *Repo) ResolvePoint(ctx context.Context, machine, ref string) (*Point, error) {
	pts, err := r.Points(ctx, machine)
	if err != nil {
		return nil, err
	}
	var found *Point
	switch ref {
	case "latest", "latest-app":
		for i := len(pts) - 1; i >= 0; i-- {
			if pts[i].Partial {
				continue
			}
			if ref == "latest" || pts[i].Consistency == AppConsistent {
				found = pts[i]
				break
			}
		}
		if found == nil {
			return nil, fmt.Errorf("machine %q has no recovery point (%s)", machine, ref)
		}
		return found, nil
	}
	if len(ref) < 8 {
		return nil, fmt.Errorf("point reference %q is too short: give at least 8 hex digits, latest or latest-app", ref)
	}
	for _, p := range pts {
		if strings.HasPrefix(p.ID, ref) {
			if found != nil {
				return nil, fmt.Errorf("point reference %q is ambiguous", ref)
			}
			found = p
		}
	}
	if found == nil {
		if machine != "" {
			return nil, fmt.Errorf("machine %q has no recovery point %q", machine, ref)
		}
		return nil, fmt.Errorf("no recovery point %q", ref)
	}
	return found, nil
}
