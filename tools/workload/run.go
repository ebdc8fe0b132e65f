package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

// runOptions are the settings of a write run.
type runOptions struct {
	Roots    []rootDir // where each root label's files go
	Seed     uint64
	Ops      int           // stop after this many operations; 0: no limit
	Duration time.Duration // stop after this long; 0: no limit
	Pause    time.Duration // between operations
	MinSize  int64
	MaxSize  int64
	MaxBytes int64 // the run deletes files when its files hold more than this
	MaxFiles int
	Dirs     int // subdirectories per root
}

// rootDir is a root label and the directory it stands for.
type rootDir struct {
	Label, Dir string
}

// runner writes files and the manifest, one operation at a time.
type runner struct {
	o      runOptions
	mw     *manifestWriter
	rng    *rand.Rand
	clk    clock.Clock
	start  time.Time
	lastT  int64
	files  map[string]int64 // manifest path -> size, of the files that exist
	names  []string         // the keys of files, for random picks
	bytes  int64
	dirs   map[string]string // root label -> directory
	buf    []byte
	lastOp int
}

func newRunner(o runOptions, w io.Writer, clk clock.Clock) (*runner, error) {
	if len(o.Roots) == 0 {
		return nil, errors.New("no root given (--root LABEL=DIR)")
	}
	if o.MinSize <= 0 || o.MaxSize < o.MinSize || o.MaxSize > maxFileSize {
		return nil, fmt.Errorf("bad size range %d-%d", o.MinSize, o.MaxSize)
	}
	if o.Dirs <= 0 {
		o.Dirs = 4
	}
	r := &runner{o: o, mw: &manifestWriter{w: w}, rng: rand.New(rand.NewPCG(o.Seed, 0x776f726b6c6f6164)),
		clk: clk, start: clk.Now(), files: map[string]int64{}, dirs: map[string]string{}}
	h := header{Kind: manifestKind, V: manifestVersion, Seed: o.Seed}
	for _, rd := range o.Roots {
		if !labelRE.MatchString(rd.Label) || r.dirs[rd.Label] != "" {
			return nil, fmt.Errorf("bad or repeated root label %q", rd.Label)
		}
		r.dirs[rd.Label] = rd.Dir
		h.Roots = append(h.Roots, rd.Label)
		if err := r.makeDirs(rd.Dir); err != nil {
			return nil, err
		}
	}
	return r, r.mw.write(h)
}

// makeDirs creates the root's subdirectories and makes them durable.
func (r *runner) makeDirs(root string) error {
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() != "lost+found" {
			return fmt.Errorf("root %s is not empty (holds %s)", root, e.Name())
		}
	}
	for i := range r.o.Dirs {
		if err := os.Mkdir(filepath.Join(root, fmt.Sprintf("d%02d", i)), 0o755); err != nil {
			return err
		}
		if err := syncDir(filepath.Join(root, fmt.Sprintf("d%02d", i))); err != nil {
			return err
		}
	}
	return syncDir(root)
}

// now is a monotonic time in unix nanoseconds: the start's wall time plus the monotonic clock's
// progress since, never less than the last value handed out.
func (r *runner) now() int64 {
	t := r.start.UnixNano() + int64(r.clk.Now().Sub(r.start))
	if t <= r.lastT {
		t = r.lastT + 1
	}
	r.lastT = t
	return t
}

// run performs operations until the limits or ctx end it. It returns nil when a limit or ctx
// stopped it; an operation in flight when ctx ends is completed first.
func (r *runner) run(ctx context.Context) error {
	var deadline time.Time
	if r.o.Duration > 0 {
		deadline = r.clk.Now().Add(r.o.Duration)
	}
	for seq := 1; r.o.Ops == 0 || seq <= r.o.Ops; seq++ {
		if ctx.Err() != nil || (!deadline.IsZero() && !r.clk.Now().Before(deadline)) {
			return nil
		}
		if err := r.step(seq); err != nil {
			return fmt.Errorf("op %d: %w", seq, err)
		}
		if r.o.Pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(r.o.Pause):
			}
		}
	}
	return nil
}

// pick chooses the next operation and its paths.
func (r *runner) pick(seq int) (kind, p, to string) {
	n := len(r.names)
	var existing string
	if n > 0 {
		existing = r.names[r.rng.IntN(n)]
	}
	x := r.rng.IntN(100)
	switch {
	case n == 0:
		kind = opCreate
	case r.bytes > r.o.MaxBytes || n >= r.o.MaxFiles:
		kind = opDelete
	case x < 35:
		kind = opCreate
	case x < 55:
		kind = opOverwrite
	case x < 70:
		kind = opAppend
		if r.files[existing] >= r.o.MaxSize {
			kind = opOverwrite
		}
	case x < 82:
		kind = opRename
	default:
		kind = opDelete
	}
	label := r.o.Roots[r.rng.IntN(len(r.o.Roots))].Label
	dir := func(l string) string { return fmt.Sprintf("%s/d%02d", l, r.rng.IntN(r.o.Dirs)) }
	switch kind {
	case opCreate:
		return kind, fmt.Sprintf("%s/f%06d", dir(label), seq), ""
	case opRename:
		root, _, _ := cutRoot(existing)
		return kind, existing, fmt.Sprintf("%s/r%06d", dir(root), seq)
	}
	return kind, existing, ""
}

// step performs operation seq and writes its records.
func (r *runner) step(seq int) error {
	kind, p, to := r.pick(seq)
	r.lastOp = seq
	if err := r.mw.write(record{Ev: "begin", Seq: seq, T: r.now(), Op: kind, Path: p, To: to}); err != nil {
		return err
	}
	res, err := r.perform(seq, kind, p, to)
	if err != nil {
		return err
	}
	// The done record's time is taken after every fsync of the operation returned.
	done := record{Ev: "done", Seq: seq, T: r.now()}
	if res.Present {
		done.SHA256, done.Size = res.SHA256, res.Size
	}
	if err := r.mw.write(done); err != nil {
		return err
	}
	switch kind {
	case opDelete:
		r.forget(p)
	case opRename:
		r.forget(p)
		r.remember(to, res.Size)
	default:
		r.forget(p)
		r.remember(p, res.Size)
	}
	return nil
}

func (r *runner) remember(p string, size int64) {
	r.files[p] = size
	r.names = append(r.names, p)
	r.bytes += size
}

func (r *runner) forget(p string) {
	size, ok := r.files[p]
	if !ok {
		return
	}
	delete(r.files, p)
	r.bytes -= size
	if i := slices.Index(r.names, p); i >= 0 {
		r.names[i] = r.names[len(r.names)-1]
		r.names = r.names[:len(r.names)-1]
	}
}

// osPath maps a manifest path to the file system.
func (r *runner) osPath(p string) string {
	root, rest, _ := cutRoot(p)
	return filepath.Join(r.dirs[root], filepath.FromSlash(rest))
}

// perform does the file system work of one operation, fsyncs what it changed and returns the
// state it left at the operation's (new) path.
func (r *runner) perform(seq int, kind, p, to string) (fileState, error) {
	name := r.osPath(p)
	rng := rand.New(rand.NewPCG(r.o.Seed, uint64(seq)))
	switch kind {
	case opDelete:
		if err := os.Remove(name); err != nil {
			return fileState{}, err
		}
		return fileState{}, syncDir(filepath.Dir(name))
	case opRename:
		dst := r.osPath(to)
		if err := os.Rename(name, dst); err != nil {
			return fileState{}, err
		}
		if err := syncDir(filepath.Dir(name)); err != nil {
			return fileState{}, err
		}
		if filepath.Dir(dst) != filepath.Dir(name) {
			if err := syncDir(filepath.Dir(dst)); err != nil {
				return fileState{}, err
			}
		}
		return hashFile(dst)
	}
	flags := os.O_RDWR
	if kind == opCreate {
		flags |= os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(name, flags, 0o644)
	if err != nil {
		return fileState{}, err
	}
	defer f.Close()
	size := r.files[p]
	switch kind {
	case opCreate:
		err = r.writeAt(f, rng, 0, logSize(rng, r.o.MinSize, r.o.MaxSize))
	case opAppend:
		err = r.writeAt(f, rng, size, min(logSize(rng, r.o.MinSize, 256<<10), r.o.MaxSize-size))
	case opOverwrite:
		for range 1 + rng.IntN(4) {
			n := min(1+rng.Int64N(64<<10), size)
			if err = r.writeAt(f, rng, rng.Int64N(size-n+1), n); err != nil {
				break
			}
		}
	}
	if err != nil {
		return fileState{}, err
	}
	if err := f.Sync(); err != nil {
		return fileState{}, err
	}
	if kind == opCreate {
		if err := syncDir(filepath.Dir(name)); err != nil {
			return fileState{}, err
		}
	}
	return hashFile(name)
}

// writeAt writes n bytes of generated content at off.
func (r *runner) writeAt(f *os.File, rng *rand.Rand, off, n int64) error {
	for n > 0 {
		chunk := min(n, 1<<20)
		if int64(cap(r.buf)) < chunk {
			r.buf = make([]byte, chunk)
		}
		b := r.buf[:chunk]
		fillContent(b, rng)
		if _, err := f.WriteAt(b, off); err != nil {
			return err
		}
		off += chunk
		n -= chunk
	}
	return nil
}

// logSize picks a size in [lo, hi], uniform in its logarithm, so that small files are common.
func logSize(rng *rand.Rand, lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	bits := 0
	for (hi/lo)>>bits > 1 {
		bits++
	}
	s := lo << rng.IntN(bits+1)
	s += rng.Int64N(s)
	return min(max(s, lo), hi)
}

// fillContent fills b with 4 KiB pieces, each random or text, so that the data compresses somewhat.
func fillContent(b []byte, rng *rand.Rand) {
	const words = "replica point vault disk block freeze thaw commit cache agent "
	for off := 0; off < len(b); off += 4096 {
		piece := b[off:min(off+4096, len(b))]
		if rng.IntN(2) == 0 {
			for i := 0; i < len(piece); i += 8 {
				v := rng.Uint64()
				for j := 0; j < 8 && i+j < len(piece); j++ {
					piece[i+j] = byte(v >> (8 * j))
				}
			}
			continue
		}
		start := rng.IntN(len(words))
		for i := range piece {
			piece[i] = words[(start+i)%len(words)]
		}
	}
}

func hashFile(name string) (fileState, error) {
	f, err := os.Open(name)
	if err != nil {
		return fileState{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fileState{}, err
	}
	return fileState{Present: true, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func cutRoot(p string) (root, rest string, ok bool) {
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			return p[:i], p[i+1:], true
		}
	}
	return p, "", false
}

// lastSeq is the number of the last operation begun.
func (r *runner) lastSeq() int { return int(r.lastOp) }
