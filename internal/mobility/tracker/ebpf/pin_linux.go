package ebpf

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// BPFFS is where the BPF filesystem is mounted; the tracker mounts it there if it is not.
const BPFFS = "/sys/fs/bpf"

// PinDir is where the tracker of a machine's agent pins its program, links and maps across a
// clean stop (docs/ebpf.md, "Pinned tracking across a clean stop").
func PinDir(machine string) string { return filepath.Join(BPFFS, "osr", machine) }

// RemovePins detaches a stopped agent's tracker: it removes the machine's pins, and the kernel
// frees the program once no process holds it. No pins is not an error.
func RemovePins(machine string) error { return removePins(PinDir(machine)) }

func removePins(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("ebpf tracker: remove pins: %w", err)
	}
	return nil
}

// The pinned objects, one file each in the pin directory.
const (
	pinBits, pinCounters, pinRanges, pinTargets = "bits", "counters", "ranges", "targets"
	pinQueue, pinComplete                       = "prog_bio_queue", "prog_rq_complete"
	pinLinkQueue, pinLinkComplete               = "link_bio_queue", "link_rq_complete"
	pinMeta                                     = "meta"
)

// programVersion identifies the BPF object this build carries.
func programVersion() string {
	h := sha256.Sum256(_TrackBytes)
	return hex.EncodeToString(h[:])
}

// layoutLocked describes the disks as Start laid them out.
func (t *Tracker) layoutLocked(words int64) meta {
	m := meta{Program: programVersion(), Words: words}
	for _, d := range t.disks {
		m.Layout = append(m.Layout, layoutDisk{Name: d.name, Dev: d.t.dev, Start: d.start, Blocks: d.nblocks,
			SummaryOff: d.t.summaryOff, WordsOff: d.t.wordsOff, WholeBlock: d.t.nblocks})
	}
	sort.Slice(m.Layout, func(i, j int) bool { return m.Layout[i].Name < m.Layout[j].Name })
	return m
}

func sameLayout(a, b []layoutDisk) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ensureBPFFS mounts the BPF filesystem at BPFFS if it is not there.
func ensureBPFFS() error {
	var st unix.Statfs_t
	if err := unix.Statfs(BPFFS, &st); err == nil && st.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := os.MkdirAll(BPFFS, 0o700); err != nil {
		return fmt.Errorf("ebpf tracker: bpffs: %w", err)
	}
	if err := unix.Mount("bpf", BPFFS, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("ebpf tracker: mount bpffs at %s: %w", BPFFS, err)
	}
	return nil
}

// pinned is what a stopped agent left in its pin directory.
type pinned struct {
	objs  *trackObjects
	links []link.Link
	meta  *ebpf.Map
	m     meta
}

func (p *pinned) close() {
	for _, l := range p.links {
		l.Close()
	}
	if p.objs != nil {
		p.objs.Close()
	}
	if p.meta != nil {
		p.meta.Close()
	}
}

// openPins opens the pins of dir; os.ErrNotExist when there are none.
func openPins(dir string) (*pinned, error) {
	if _, err := os.Stat(filepath.Join(dir, pinMeta)); err != nil {
		return nil, err
	}
	p := &pinned{objs: &trackObjects{}}
	ok := false
	defer func() {
		if !ok {
			p.close()
		}
	}()
	var err error
	if p.meta, err = ebpf.LoadPinnedMap(filepath.Join(dir, pinMeta), nil); err != nil {
		return nil, err
	}
	buf := make([]byte, metaSize)
	if err := p.meta.Lookup(uint32(0), &buf); err != nil {
		return nil, err
	}
	if p.m, err = decodeMeta(buf); err != nil {
		return nil, err
	}
	maps := []struct {
		name string
		m    **ebpf.Map
	}{{pinBits, &p.objs.Bits}, {pinCounters, &p.objs.Counters}, {pinRanges, &p.objs.Ranges}, {pinTargets, &p.objs.Targets}}
	for _, x := range maps {
		if *x.m, err = ebpf.LoadPinnedMap(filepath.Join(dir, x.name), nil); err != nil {
			return nil, err
		}
	}
	if p.objs.OnBioQueue, err = ebpf.LoadPinnedProgram(filepath.Join(dir, pinQueue), nil); err != nil {
		return nil, err
	}
	if p.objs.OnRqComplete, err = ebpf.LoadPinnedProgram(filepath.Join(dir, pinComplete), nil); err != nil {
		return nil, err
	}
	for _, name := range []string{pinLinkComplete, pinLinkQueue} {
		l, err := link.LoadPinnedLink(filepath.Join(dir, name), nil)
		if err != nil {
			return nil, err
		}
		p.links = append(p.links, l)
	}
	ok = true
	return p, nil
}

// resumeLocked takes over the pins of a cleanly stopped run when they match this program and these
// disks; otherwise it removes them and says why. On success the tracker holds the objects and the
// pins are gone (a crash from here on leaves nothing behind: the next start compares every block).
func (t *Tracker) resumeLocked(words int64, unclean bool) (string, error) {
	dir := t.opts.PinDir
	if unclean {
		return "the previous run stopped uncleanly", removePins(dir)
	}
	p, err := openPins(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		removePins(dir)
		return "no pinned tracker from a previous run (first start, reboot or unclean stop)", nil
	case err != nil:
		removePins(dir)
		return fmt.Sprintf("the pinned tracker is unusable: %v", err), nil
	}
	why := ""
	want := t.layoutLocked(words)
	switch {
	case p.m.Program != want.Program:
		why = fmt.Sprintf("the pinned tracker is another program version (%.12s, this build %.12s)", p.m.Program, want.Program)
	case p.m.Words != want.Words || !sameLayout(p.m.Layout, want.Layout):
		why = "the protected disks changed since the pinned tracker was set up"
	}
	if why != "" {
		p.close()
		removePins(dir)
		return why, nil
	}
	t.objs, t.links = p.objs, p.links
	p.meta.Close()
	lost, err := t.lostLocked()
	if err != nil {
		return "", err
	}
	if lost != p.m.Lost {
		why = fmt.Sprintf("the ebpf probe's drops and misses went from %d to %d while the service was stopped", p.m.Lost, lost)
	}
	for _, u := range []interface{ Unpin() error }{t.objs.Bits, t.objs.Counters, t.objs.Ranges, t.objs.Targets, t.objs.OnBioQueue, t.objs.OnRqComplete, t.links[0], t.links[1]} {
		if err := u.Unpin(); err != nil {
			return "", fmt.Errorf("ebpf tracker: unpin: %w", err)
		}
	}
	if err := removePins(dir); err != nil {
		return "", err
	}
	return why, nil
}

// Resumed tells whether Start took over a cleanly stopped run's tracking with nothing lost, so that
// the first Changes covers the writes made while the service was stopped; otherwise why not.
func (t *Tracker) Resumed() (bool, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.resumed, t.resumeWhy
}

// Suspend ends this process's tracking but leaves the program attached and its maps pinned, so
// that writes keep being recorded until the next Start takes them over. The blocks still pending
// here and extra (per disk, blocks the caller has consumed but not seen committed) are put back
// into the kernel's bitmap first. On error the pins are removed and the tracker is closed: the next
// start compares every block.
func (t *Tracker) Suspend(extra map[string]*tracker.Bitmap) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.suspendLocked(extra)
	if err != nil {
		removePins(t.opts.PinDir)
	}
	return errors.Join(err, t.closeLocked())
}

func (t *Tracker) suspendLocked(extra map[string]*tracker.Bitmap) error {
	if t.objs == nil {
		return errors.New("ebpf tracker: not started")
	}
	if t.opts.PinDir == "" {
		return errors.New("ebpf tracker: no pin directory")
	}
	if err := t.drain(); err != nil {
		return err
	}
	for _, tg := range t.targets {
		t.harvest(tg)
	}
	for name, b := range extra {
		if dk := t.disks[name]; dk != nil && b != nil {
			unproject(dk, b)
		}
	}
	for _, tg := range t.targets {
		for _, u := range tg.users {
			for i := u.pending.Next(0); i >= 0; i = u.pending.Next(i + 1) {
				w := i / 64
				atomic.OrUint64(t.word(tg.wordsOff+w), 1<<(i%64))
				atomic.OrUint64(t.word(tg.summaryOff+w/64), 1<<(w%64))
			}
			u.pending.Clear()
		}
	}
	lost, err := t.lostLocked()
	if err != nil {
		return err
	}
	m := t.layoutLocked(t.words)
	m.Lost = lost
	js, err := json.Marshal(m)
	if err != nil || len(js) >= metaSize {
		return fmt.Errorf("ebpf tracker: the layout of %d disks does not fit the meta map", len(t.disks))
	}
	if err := ensureBPFFS(); err != nil {
		return err
	}
	dir := t.opts.PinDir
	if err := removePins(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("ebpf tracker: pin directory: %w", err)
	}
	mm, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: metaSize, MaxEntries: 1})
	if err != nil {
		return fmt.Errorf("ebpf tracker: meta map: %w", err)
	}
	defer mm.Close()
	buf := make([]byte, metaSize)
	copy(buf, js)
	if err := mm.Put(uint32(0), buf); err != nil {
		return fmt.Errorf("ebpf tracker: meta map: %w", err)
	}
	objs := []struct {
		name string
		o    interface{ Pin(string) error }
	}{{pinBits, t.objs.Bits}, {pinCounters, t.objs.Counters}, {pinRanges, t.objs.Ranges}, {pinTargets, t.objs.Targets},
		{pinQueue, t.objs.OnBioQueue}, {pinComplete, t.objs.OnRqComplete}, {pinLinkComplete, t.links[0]}, {pinLinkQueue, t.links[1]},
		{pinMeta, mm}} // meta last: its presence says the set is complete
	for _, x := range objs {
		if err := x.o.Pin(filepath.Join(dir, x.name)); err != nil {
			return fmt.Errorf("ebpf tracker: pin %s: %w", x.name, err)
		}
	}
	t.opts.Logger.Info("ebpf tracker suspended: the program stays attached, its maps pinned", "dir", dir)
	return nil
}

// unproject marks in the disk's pending whole-disk bitmap the blocks b names on the disk.
func unproject(dk *disk, b *tracker.Bitmap) {
	for j := b.Next(0); j >= 0 && j < dk.nblocks; j = b.Next(j + 1) {
		lo := (dk.start + 8*j) / 8
		hi := (dk.start + 8*j + 7) / 8
		if hi >= dk.t.nblocks {
			hi = dk.t.nblocks - 1
		}
		if lo <= hi {
			dk.pending.SetRange(lo, hi-lo+1)
		}
	}
}
