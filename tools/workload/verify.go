package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// A cut is a position in the manifest's sequence of operations, counted in half steps: cut 2i
// means operations 1..i are complete and no later one has begun; cut 2i-1 means operations
// 1..i-1 are complete and operation i is in flight (its paths may show the old state, the new
// one or, for a create, overwrite or append, anything in between). A consistent image of the
// roots (a recovery point, a snapshot) shows the files of one cut.

// span is an inclusive range of cuts.
type span struct{ lo, hi int }

// spanSet is a sorted list of disjoint spans.
type spanSet []span

func (s spanSet) intersect(t spanSet) spanSet {
	var out spanSet
	i, j := 0, 0
	for i < len(s) && j < len(t) {
		lo, hi := max(s[i].lo, t[j].lo), min(s[i].hi, t[j].hi)
		if lo <= hi {
			out = append(out, span{lo, hi})
		}
		if s[i].hi < t[j].hi {
			i++
		} else {
			j++
		}
	}
	return out
}

func (s spanSet) String() string {
	if len(s) == 0 {
		return "none"
	}
	var parts []string
	for _, sp := range s {
		parts = append(parts, fmt.Sprintf("%d-%d", sp.lo, sp.hi))
	}
	return strings.Join(parts, ",")
}

// change is an operation that left a path in a state.
type change struct {
	seq    int
	atomic bool
	state  fileState
}

// histories returns, per path, the operations that changed it, in order.
func (m *manifest) histories() map[string][]change {
	h := map[string][]change{}
	for i := range m.Ops {
		o := &m.Ops[i]
		switch o.Op {
		case opDelete:
			h[o.Path] = append(h[o.Path], change{o.Seq, true, fileState{}})
		case opRename:
			h[o.Path] = append(h[o.Path], change{o.Seq, true, fileState{}})
			h[o.To] = append(h[o.To], change{o.Seq, true, o.Result})
		default:
			h[o.Path] = append(h[o.Path], change{o.Seq, false, o.Result})
		}
	}
	return h
}

// feasible returns the cuts at which a path with this history shows the observed state.
// An operation that never completed has no result: its new state is unknown, and any state seen
// while it is in flight fits.
func (m *manifest) feasible(hist []change, seen fileState) spanSet {
	last := 2 * len(m.Ops)
	var out spanSet
	add := func(lo, hi int) {
		if lo > hi {
			return
		}
		if n := len(out); n > 0 && out[n-1].hi+1 >= lo {
			out[n-1].hi = max(out[n-1].hi, hi)
			return
		}
		out = append(out, span{lo, hi})
	}
	state, from := fileState{}, 0 // the state before the first change holds from cut 0
	for _, c := range hist {
		inFlight := 2*c.seq - 1
		torn := !c.atomic || m.Ops[c.seq-1].Done == 0
		if state == seen {
			add(from, inFlight)
		} else if torn && (seen.Present || !c.state.Present || m.Ops[c.seq-1].Op == opCreate) {
			add(inFlight, inFlight)
		}
		state, from = c.state, inFlight
		if m.Ops[c.seq-1].Done == 0 {
			state = fileState{Present: true, SHA256: "unknown"}
			from = inFlight + 1
		}
	}
	if state == seen {
		add(from, last)
	}
	return out
}

// window returns the cuts that a capture at unix ns `at` may show: every operation done before
// `at` is complete, and none that began at or after at+slack has begun.
func (m *manifest) window(at, slack int64) span {
	w := span{0, 2 * len(m.Ops)}
	for i := range m.Ops {
		o := &m.Ops[i]
		if o.Done != 0 && o.Done < at {
			w.lo = 2 * o.Seq
		}
		if o.Begin >= at+slack {
			w.hi = 2 * (o.Seq - 1)
			break
		}
	}
	return w
}

// verifyResult is what verify found.
type verifyResult struct {
	Window   span
	Cuts     spanSet // cuts every checked path agrees with
	Paths    int     // paths of the manifest checked
	Present  int     // files found
	Problems []string
}

// verifyRoots checks the files under each mounted root against the manifest at capture time at.
// roots maps a root label to its directory; labels not given are not checked.
func verifyRoots(m *manifest, roots map[string]string, at, slack int64) (*verifyResult, error) {
	for label := range roots {
		known := false
		for _, r := range m.Header.Roots {
			known = known || r == label
		}
		if !known {
			return nil, fmt.Errorf("root %q is not in the manifest (it has %s)", label, strings.Join(m.Header.Roots, ", "))
		}
	}
	res := &verifyResult{Window: m.window(at, slack), Cuts: spanSet{{0, 2 * len(m.Ops)}}}
	hist := m.histories()
	var names []string
	for p := range hist {
		if root, _, _ := cutRoot(p); roots[root] != "" {
			names = append(names, p)
		}
	}
	sort.Strings(names)
	var problems []string
	for _, p := range names {
		root, rest, _ := cutRoot(p)
		seen, err := observe(filepath.Join(roots[root], filepath.FromSlash(rest)))
		if err != nil {
			return nil, err
		}
		res.Paths++
		if seen.Present {
			res.Present++
		}
		f := m.feasible(hist[p], seen)
		res.Cuts = res.Cuts.intersect(f)
		if len(f.intersect(spanSet{res.Window})) == 0 {
			want := stateAt(hist[p], res.Window.lo)
			problems = append(problems, fmt.Sprintf("%s: %s, want %s (fits cuts %s, the capture window is %d-%d)",
				p, seen, want, f, res.Window.lo, res.Window.hi))
		}
	}
	for label, dir := range roots {
		extra, err := unknownFiles(dir, label, hist)
		if err != nil {
			return nil, err
		}
		problems = append(problems, extra...)
	}
	if len(problems) == 0 && len(res.Cuts.intersect(spanSet{res.Window})) == 0 {
		problems = append(problems, fmt.Sprintf("the files fit no single cut in the capture window %d-%d (they fit cuts %s)",
			res.Window.lo, res.Window.hi, res.Cuts))
	}
	sort.Strings(problems)
	res.Problems = problems
	return res, nil
}

// stateAt is the state of a path at an even cut (complete operations only).
func stateAt(hist []change, cut int) fileState {
	var s fileState
	for _, c := range hist {
		if 2*c.seq > cut {
			break
		}
		s = c.state
	}
	return s
}

// observe hashes the file at name; a missing file (or missing directory above it) is absent.
func observe(name string) (fileState, error) {
	st, err := os.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fileState{}, nil
	}
	if err != nil {
		return fileState{}, err
	}
	if !st.Mode().IsRegular() {
		return fileState{Present: true, SHA256: "not-a-regular-file"}, nil
	}
	return hashFile(name)
}

// unknownFiles lists the regular files under dir that no operation of the manifest wrote.
func unknownFiles(dir, label string, hist map[string][]change) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return nil // the capture is older than the run
			}
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if rel == "lost+found" {
				return filepath.SkipDir
			}
			return nil
		}
		mp := label + "/" + filepath.ToSlash(rel)
		if _, ok := hist[mp]; !ok {
			out = append(out, fmt.Sprintf("%s: a file no operation wrote", mp))
		}
		return nil
	})
	return out, err
}
