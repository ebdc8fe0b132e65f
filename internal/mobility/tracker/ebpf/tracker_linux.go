package ebpf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// Options configure the tracker.
type Options struct {
	Logger *slog.Logger // default: discard
	// Sysfs is where sysfs is mounted; default /sys.
	Sysfs string
	// PinDir, when set, is where a clean stop (Suspend) pins the program, its links and maps, and
	// where Start looks for them (PinDir(machine)); empty: nothing outlives the process.
	PinDir string
}

// Tracker is the eBPF write tracker. It is safe for concurrent use.
type Tracker struct {
	opts Options

	mu      sync.Mutex
	objs    *trackObjects
	links   []link.Link
	rd      *ringbuf.Reader
	mem     []byte // the mmap'ed bitmap words
	targets map[uint32]*target
	disks   map[string]*disk
	gaps    uint64
	lost    uint64 // drops + misses as of the newest check
	words   int64  // bitmap words of the layout

	resumed   bool   // Start took over a cleanly stopped run's pins
	resumeWhy string // why not, or what was lost meanwhile
}

// target is a whole disk the program tracks; its words live at [summaryOff, wordsOff+nwords).
type target struct {
	dev                  uint32
	summaryOff, wordsOff int64
	nsummary, nwords     int64
	nblocks              int64
	users                []*disk
}

// disk is a protected path: a whole disk or a partition of one.
type disk struct {
	name    string
	t       *target
	start   int64 // sectors on the whole disk
	nblocks int64
	pending *tracker.Bitmap // whole-disk blocks seen dirty, not yet reported
	lost    uint64          // drops + misses when this disk last reported
	gap     string          // a gap to report at the next Changes
}

// New returns a tracker; Start loads and attaches the program.
func New(opts Options) (*Tracker, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Sysfs == "" {
		opts.Sysfs = "/sys"
	}
	return &Tracker{opts: opts}, nil
}

// Name returns "ebpf".
func (*Tracker) Name() string { return "ebpf" }

// Probe reports why the tracker cannot run on this machine, or nil: it needs kernel BTF and the
// right to load and attach a tracing program (root, or CAP_BPF with CAP_PERFMON).
func Probe() error {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return errors.New("kernel BTF is missing (/sys/kernel/btf/vmlinux): the ebpf tracker needs a kernel built with CONFIG_DEBUG_INFO_BTF")
	}
	objs, err := load(1)
	if err != nil {
		return err
	}
	return objs.Close()
}

// load loads the collection with a bitmap of n words.
func load(n int64) (*trackObjects, error) {
	spec, err := loadTrack()
	if err != nil {
		return nil, fmt.Errorf("ebpf tracker: %w", err)
	}
	if n > 1<<32-1 {
		return nil, fmt.Errorf("ebpf tracker: the protected disks need %d bitmap words, more than one map holds", n)
	}
	spec.Maps[trackMapBits].MaxEntries = uint32(max(n, 1))
	var objs trackObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("ebpf tracker: not permitted to load the BPF program (run as root, or grant CAP_BPF and CAP_PERFMON): %w", err)
		}
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("ebpf tracker: the kernel refused the program (see docs/ebpf.md for the kernels it needs): %w", err)
		}
		return nil, fmt.Errorf("ebpf tracker: load: %w", err)
	}
	return &objs, nil
}

// Start loads the program, sizes its bitmap for the disks' whole disks and attaches it. Writes
// from the moment Start returns are tracked.
func (t *Tracker) Start(_ context.Context, disks []tracker.Disk, unclean bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.objs != nil {
		return errors.New("ebpf tracker: already started")
	}
	t.targets, t.disks = map[uint32]*target{}, map[string]*disk{}
	var words int64
	for _, d := range disks {
		dv, err := resolve(t.opts.Sysfs, d.Path)
		if err != nil {
			return fmt.Errorf("disk %s: %w", d.Name, err)
		}
		tg := t.targets[dv.dev]
		if tg == nil {
			nb := tracker.Blocks(dv.wholeBytes)
			nw := (nb + 63) / 64
			ns := (nw + 63) / 64
			tg = &target{dev: dv.dev, summaryOff: words, wordsOff: words + ns, nsummary: ns, nwords: nw, nblocks: nb}
			words += ns + nw
			t.targets[dv.dev] = tg
		}
		dk := &disk{name: d.Name, t: tg, start: dv.start, nblocks: tracker.Blocks(d.Size), pending: tracker.NewBitmap(tg.nblocks)}
		tg.users = append(tg.users, dk)
		t.disks[d.Name] = dk
	}
	t.words = words
	t.resumed, t.resumeWhy = false, ""
	if t.opts.PinDir != "" {
		why, err := t.resumeLocked(words, unclean)
		if err != nil {
			t.closeLocked()
			removePins(t.opts.PinDir)
			return err
		}
		if t.objs != nil {
			return t.resumedLocked(why)
		}
		t.resumeWhy = why
	}
	objs, err := load(words)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			t.closeLocked()
		}
	}()
	t.objs = objs
	for dev, tg := range t.targets {
		v := trackTarget{SummaryOff: uint64(tg.summaryOff), WordsOff: uint64(tg.wordsOff), Nblocks: uint64(tg.nblocks)}
		if err := objs.Targets.Put(dev, v); err != nil {
			return fmt.Errorf("ebpf tracker: add disk: %w", err)
		}
	}
	if err := t.openLocked(); err != nil {
		return err
	}
	size := len(t.mem)
	// Completion first: from the moment the queue hook runs, a write is marked again when it
	// completes.
	for _, h := range []struct {
		name string
		prog *ebpf.Program
	}{{"block_rq_complete", objs.OnRqComplete}, {"block_bio_queue", objs.OnBioQueue}} {
		l, err := link.AttachTracing(link.TracingOptions{Program: h.prog})
		if err != nil {
			if errors.Is(err, unix.EPERM) {
				return fmt.Errorf("ebpf tracker: not permitted to attach to %s (run as root, or grant CAP_BPF and CAP_PERFMON): %w", h.name, err)
			}
			return fmt.Errorf("ebpf tracker: attach to %s: %w", h.name, err)
		}
		t.links = append(t.links, l)
	}
	ok = true
	t.opts.Logger.Info("ebpf tracker attached", "disks", len(disks), "bitmap_bytes", size)
	return nil
}

// openLocked maps the bitmap and opens the ring buffer of t.objs.
func (t *Tracker) openLocked() error {
	size := int(t.objs.Bits.MaxEntries()) * 8
	page := os.Getpagesize()
	var err error
	t.mem, err = unix.Mmap(t.objs.Bits.FD(), 0, (size+page-1)/page*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("ebpf tracker: map the bitmap: %w", err)
	}
	if t.rd, err = ringbuf.NewReader(t.objs.Ranges); err != nil {
		return fmt.Errorf("ebpf tracker: ring buffer: %w", err)
	}
	return nil
}

// resumedLocked finishes a Start that took over pins: the first Changes of each disk reports what
// was written meanwhile, or a gap when the probe lost something (why).
func (t *Tracker) resumedLocked(why string) error {
	if err := t.openLocked(); err != nil {
		t.closeLocked()
		return err
	}
	for _, d := range t.disks {
		d.lost, d.gap = t.lost, why // a loss while stopped: the first Changes reports the gap
	}
	if why != "" {
		t.resumeWhy = why
	} else {
		t.resumed = true
	}
	t.opts.Logger.Info("ebpf tracker resumed from its pins", "disks", len(t.disks), "dir", t.opts.PinDir, "gap", why)
	return nil
}

// word returns the bitmap word i of the mmap'ed array.
func (t *Tracker) word(i int64) *uint64 { return (*uint64)(unsafe.Pointer(&t.mem[i*8])) }

// Changes returns the blocks written to the disk since the previous call (a superset), or a gap
// if the program dropped a range or missed a run since then.
func (t *Tracker) Changes(_ context.Context, name string) (tracker.Changes, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	dk := t.disks[name]
	if dk == nil {
		return tracker.Changes{}, fmt.Errorf("tracker: unknown disk %q", name)
	}
	if t.objs == nil {
		return tracker.Changes{}, errors.New("ebpf tracker: not started")
	}
	// Ranges first (they are committed before their bio proceeds), then the bitmap words.
	if err := t.drain(); err != nil {
		return tracker.Changes{}, err
	}
	t.harvest(dk.t)
	lost, err := t.lostLocked()
	if err != nil {
		return tracker.Changes{}, err
	}
	out := tracker.NewBitmap(dk.nblocks)
	project(dk, out)
	dk.pending.Clear()
	if dk.gap != "" {
		gap := dk.gap
		dk.gap, dk.lost = "", lost
		t.gaps++
		return tracker.Changes{Gap: gap}, nil
	}
	if lost != dk.lost {
		gap := fmt.Sprintf("the ebpf probe lost %d records or runs", lost-dk.lost)
		dk.lost = lost
		t.gaps++
		return tracker.Changes{Gap: gap}, nil
	}
	return tracker.Changes{Dirty: out}, nil
}

// project marks in out the blocks of the disk that overlap the whole-disk blocks in pending.
func project(dk *disk, out *tracker.Bitmap) {
	p := dk.pending
	if dk.start == 0 {
		for i := p.Next(0); i >= 0 && i < dk.nblocks; i = p.Next(i + 1) {
			out.Set(i)
		}
		return
	}
	// Whole-disk block i holds sectors [8i, 8i+8); partition block j holds [start+8j, start+8j+8).
	first := dk.start / 8
	for i := p.Next(first); i >= 0; i = p.Next(i + 1) {
		lo := (8*i - dk.start) / 8
		if 8*i < dk.start {
			lo = 0
		}
		hi := (8*i + 7 - dk.start) / 8
		if lo >= dk.nblocks {
			return
		}
		out.SetRange(lo, hi-lo+1)
	}
}

// harvest moves the kernel's bits of one whole disk into its users' pending bitmaps: the summary
// words first, then the words they mark, each swapped out atomically.
func (t *Tracker) harvest(tg *target) {
	for s := range tg.nsummary {
		v := atomic.SwapUint64(t.word(tg.summaryOff+s), 0)
		for v != 0 {
			b := int64(bits.TrailingZeros64(v))
			v &= v - 1
			w := s*64 + b
			if w >= tg.nwords {
				continue
			}
			x := atomic.SwapUint64(t.word(tg.wordsOff+w), 0)
			if x == 0 {
				continue
			}
			for _, u := range tg.users {
				u.pending.OrWord(w, x)
			}
		}
	}
}

// drain reads the ranges the program handed over and marks them in the users' pending bitmaps.
func (t *Tracker) drain() error {
	t.rd.SetDeadline(time.Now())
	var rec ringbuf.Record
	for {
		err := t.rd.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ebpf tracker: ring buffer: %w", err)
		}
		dev, first, last, err := decodeRange(rec.RawSample)
		if err != nil {
			return err
		}
		if tg := t.targets[dev]; tg != nil && last < tg.nblocks {
			for _, u := range tg.users {
				u.pending.SetRange(first, last-first+1)
			}
		}
	}
}

// counter indexes, as in bpf/track.c.
const (
	cBios = iota
	cRanges
	cDrops
	cOutside
)

// counter returns a counter summed over the CPUs.
func (t *Tracker) counter(i uint32) (uint64, error) {
	var vs []uint64
	if err := t.objs.Counters.Lookup(i, &vs); err != nil {
		return 0, fmt.Errorf("ebpf tracker: read counter: %w", err)
	}
	var n uint64
	for _, v := range vs {
		n += v
	}
	return n, nil
}

// lostLocked returns drops + program misses so far.
func (t *Tracker) lostLocked() (uint64, error) {
	drops, err := t.counter(cDrops)
	if err != nil {
		return 0, err
	}
	misses, err := t.misses()
	if err != nil {
		return 0, err
	}
	t.lost = drops + misses
	return t.lost, nil
}

// misses returns the runs the kernel skipped of both programs.
func (t *Tracker) misses() (uint64, error) {
	var n uint64
	for _, p := range []*ebpf.Program{t.objs.OnBioQueue, t.objs.OnRqComplete} {
		st, err := p.Stats()
		if err != nil {
			return 0, fmt.Errorf("ebpf tracker: program stats: %w", err)
		}
		n += st.RecursionMisses
	}
	return n, nil
}

// Stats returns the drops, misses and gaps so far.
func (t *Tracker) Stats() tracker.Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	var s tracker.Stats
	if t.objs == nil {
		return s
	}
	s.Gaps = t.gaps
	s.Drops, _ = t.counter(cDrops)
	s.Misses, _ = t.misses()
	return s
}

// Counts returns the marks made (bios queued and requests completed) and the ranges handed to user space (tests, figures).
func (t *Tracker) Counts() (bios, ranges uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.objs == nil {
		return 0, 0
	}
	bios, _ = t.counter(cBios)
	ranges, _ = t.counter(cRanges)
	return bios, ranges
}

// StateBytes is the bitmap memory: in the kernel and pending in user space.
func (t *Tracker) StateBytes() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := int64(len(t.mem))
	for _, d := range t.disks {
		n += d.pending.Bytes()
	}
	return n
}

// Close detaches the program and frees its maps, and removes any pins in PinDir.
func (t *Tracker) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.closeLocked()
	if t.opts.PinDir != "" {
		err = errors.Join(err, removePins(t.opts.PinDir))
	}
	return err
}

func (t *Tracker) closeLocked() error {
	var errs []error
	for _, l := range t.links {
		errs = append(errs, l.Close())
	}
	t.links = nil
	if t.rd != nil {
		errs = append(errs, t.rd.Close())
		t.rd = nil
	}
	if t.mem != nil {
		errs = append(errs, unix.Munmap(t.mem))
		t.mem = nil
	}
	if t.objs != nil {
		errs = append(errs, t.objs.Close())
		t.objs = nil
	}
	return errors.Join(errs...)
}

// NewTracker returns a tracker behind the tracker interface.
func NewTracker(opts Options) (tracker.Tracker, error) { return New(opts) }
