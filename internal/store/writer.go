package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opensiterecovery/osr/internal/crypto"
)

// DiskSpec names a disk of a point being written and gives its size in bytes.
type DiskSpec struct {
	Name string
	Size int64
}

// CommitMeta describes the instant a point captures.
type CommitMeta struct {
	Time        time.Time // capture instant; default: the clock at commit
	Consistency Consistency
	// Partial commits a chunk of an initial replication (consistency must be empty or
	// NoConsistency): see Point.Partial.
	Partial bool
	Labels  map[string]string // copied into Point.Labels
}

// Writer builds one recovery point of one machine from a parent point. Disks are written with
// DiskWriter.WriteAt, concurrently and at any offsets; what is not written keeps the parent's
// content. Commit makes the point visible atomically; Abort, or a crash, leaves nothing visible.
type Writer struct {
	r       *Repo
	ctx     context.Context
	machine string
	parent  *Point
	p       *packer
	lock    *Lock
	disks   []*DiskWriter
	written atomic.Int64
	mu      sync.Mutex
	state   int // 0 open, 1 committed, 2 aborted
}

// NewWriter begins a point of machine. parent may be nil (a full point). Disks of the parent that
// are not named in disks are not part of the new point.
func (r *Repo) NewWriter(ctx context.Context, machine string, parent *Point, disks []DiskSpec) (*Writer, error) {
	if machine == "" {
		return nil, errors.New("machine name is empty")
	}
	if len(disks) == 0 {
		return nil, errors.New("a point needs at least one disk")
	}
	if parent != nil && parent.Machine != machine {
		return nil, fmt.Errorf("parent point %s belongs to machine %q, not %q", parent.ID, parent.Machine, machine)
	}
	lock, err := r.Session(ctx, LockWrite)
	if err != nil {
		return nil, err
	}
	w := &Writer{r: r, ctx: ctx, machine: machine, parent: parent, lock: lock}
	w.p = newPacker(ctx, r)
	seen := map[string]bool{}
	for _, ds := range disks {
		if ds.Name == "" || seen[ds.Name] {
			lock.Release()
			return nil, fmt.Errorf("disk name %q is empty or repeated", ds.Name)
		}
		seen[ds.Name] = true
		dw, err := newDiskWriter(w, ds)
		if err != nil {
			lock.Release()
			return nil, err
		}
		w.disks = append(w.disks, dw)
	}
	return w, nil
}

// Disk returns the writer of the named disk, or nil.
func (w *Writer) Disk(name string) *DiskWriter {
	for _, d := range w.disks {
		if d.name == name {
			return d
		}
	}
	return nil
}

// node is the writer's nodeSource: its own nodes not yet uploaded, then the store.
func (w *Writer) node(ctx context.Context, id ID) (any, error) {
	if n, ok := w.r.nodes.get(id); ok {
		return n, nil
	}
	plain, ok, err := w.p.read(id)
	if err != nil {
		return nil, err
	}
	if ok {
		n, err := decodeNode(plain)
		if err != nil {
			return nil, err
		}
		w.r.nodes.put(id, n)
		return n, nil
	}
	return w.r.node(ctx, id)
}

// blob returns the plaintext of a data blob, written by this writer or stored.
func (w *Writer) blob(ctx context.Context, id ID) ([]byte, error) {
	plain, ok, err := w.p.read(id)
	if ok || err != nil {
		return plain, err
	}
	plain, _, err = w.r.loadBlob(ctx, id, nil)
	return plain, err
}

func (w *Writer) open() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != 0 {
		return errors.New("point writer is already committed or aborted")
	}
	return nil
}

// Commit writes what is pending, waits until every pack and index is durable, then writes the point
// object: only then is the point visible.
func (w *Writer) Commit(ctx context.Context, meta CommitMeta) (*Point, error) {
	if err := w.open(); err != nil {
		return nil, err
	}
	switch {
	case meta.Partial && (meta.Consistency == "" || meta.Consistency == NoConsistency):
		meta.Consistency = NoConsistency
	case meta.Partial:
		return nil, fmt.Errorf("a partial point cannot be %q consistent", meta.Consistency)
	case meta.Consistency == "":
		meta.Consistency = CrashConsistent
	case meta.Consistency != CrashConsistent && meta.Consistency != AppConsistent:
		return nil, fmt.Errorf("unknown consistency %q", meta.Consistency)
	}
	for k := range meta.Labels {
		if k == "" {
			return nil, errors.New("a point label has an empty name")
		}
	}
	if meta.Time.IsZero() {
		meta.Time = w.r.opts.Clock.Now()
	}
	pt := &Point{Version: 1, ID: crypto.RandomID().String(), Machine: w.machine, Time: meta.Time.UTC(),
		Consistency: meta.Consistency, Hostname: w.r.opts.Hostname, Partial: meta.Partial}
	if len(meta.Labels) > 0 {
		pt.Labels = maps.Clone(meta.Labels)
	}
	if w.parent != nil {
		pt.Parent = w.parent.ID
	}
	for _, dw := range w.disks {
		if err := dw.flushAll(ctx); err != nil {
			w.Abort()
			return nil, fmt.Errorf("disk %s: %w", dw.name, err)
		}
		root, err := dw.buildTree(ctx)
		if err != nil {
			w.Abort()
			return nil, fmt.Errorf("disk %s: %w", dw.name, err)
		}
		d := DiskPoint{Name: dw.name, Size: dw.g.size, BlockSize: dw.g.blockSize, LeafBlocks: dw.g.leafBlocks, Fanout: dw.g.fanout}
		if !root.IsZero() {
			d.Root = root.String()
		}
		pt.Disks = append(pt.Disks, d)
	}
	if err := w.p.flush(); err != nil {
		w.Abort()
		return nil, err
	}
	pt.Stats = w.p.stats
	pt.Stats.BlocksWritten = w.written.Load()
	pt.Committed = w.r.opts.Clock.Now().UTC()
	if err := w.r.savePoint(ctx, pt); err != nil {
		w.Abort()
		return nil, fmt.Errorf("write point: %w", err)
	}
	w.mu.Lock()
	w.state = 1
	w.mu.Unlock()
	w.lock.Release()
	return pt, nil
}

// Abort drops the point. Data already uploaded stays unreferenced until a prune removes it.
func (w *Writer) Abort() {
	w.mu.Lock()
	if w.state != 0 {
		w.mu.Unlock()
		return
	}
	w.state = 2
	w.mu.Unlock()
	w.p.fail(errors.New("point writer aborted"))
	w.p.wait()
	w.lock.Release()
}
