package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

// harness drives a runner step by step and takes copies of its roots between operations.
type harness struct {
	t        *testing.T
	dir      string
	r        *runner
	clk      *clock.Fake
	manifest *bytes.Buffer
	seq      int
}

func newHarness(t *testing.T, roots ...string) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), clk: clock.NewFake(time.Unix(1_800_000_000, 0)), manifest: &bytes.Buffer{}}
	var rds []rootDir
	for _, l := range roots {
		d := filepath.Join(h.dir, "src", l)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		rds = append(rds, rootDir{Label: l, Dir: d})
	}
	o := runOptions{Roots: rds, Seed: 42, MinSize: 1 << 10, MaxSize: 256 << 10, MaxBytes: 2 << 20, MaxFiles: 40, Dirs: 3}
	r, err := newRunner(o, h.manifest, h.clk)
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	return h
}

// steps performs n operations, 1 ms apart.
func (h *harness) steps(n int) {
	h.t.Helper()
	for range n {
		h.seq++
		h.clk.Advance(time.Millisecond)
		if err := h.r.step(h.seq); err != nil {
			h.t.Fatal(err)
		}
	}
	h.clk.Advance(time.Millisecond)
}

// snapshot copies a root as it is now and returns the copy and the instant.
func (h *harness) snapshot(label, name string) (string, int64) {
	h.t.Helper()
	dst := filepath.Join(h.dir, name)
	if out, err := exec.Command("cp", "-a", h.r.dirs[label], dst).CombinedOutput(); err != nil {
		h.t.Fatalf("cp: %v %s", err, out)
	}
	return dst, h.clk.Now().UnixNano()
}

func (h *harness) parsed() *manifest {
	h.t.Helper()
	m, err := parseManifest(bytes.NewReader(h.manifest.Bytes()))
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

func TestVerifySnapshots(t *testing.T) {
	h := newHarness(t, "a")
	var snaps []string
	var times []int64
	for i := range 6 {
		h.steps(30)
		d, at := h.snapshot("a", "snap"+string(rune('0'+i)))
		snaps, times = append(snaps, d), append(times, at)
	}
	m := h.parsed()
	if len(m.Ops) != 180 {
		t.Fatalf("%d ops, want 180", len(m.Ops))
	}
	kinds := map[string]int{}
	for _, o := range m.Ops {
		kinds[o.Op]++
	}
	for _, k := range []string{opCreate, opOverwrite, opAppend, opRename, opDelete} {
		if kinds[k] == 0 {
			t.Fatalf("no %s in %v", k, kinds)
		}
	}
	for i, d := range snaps {
		res, err := verifyRoots(m, map[string]string{"a": d}, times[i], 0)
		if err != nil {
			t.Fatal(err)
		}
		cut := 60 * (i + 1)
		if len(res.Problems) != 0 || res.Cuts.intersect(spanSet{res.Window}).String() != (spanSet{{cut, cut}}).String() {
			t.Fatalf("snapshot %d: problems %q, cuts %s window %v", i, res.Problems, res.Cuts, res.Window)
		}
	}
	// An older capture time than the snapshot's: files newer than it show.
	res, err := verifyRoots(m, map[string]string{"a": snaps[3]}, times[1], 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) == 0 {
		t.Fatal("a snapshot checked against an earlier instant passed")
	}
	// A later one: files fsynced before it are missing or old.
	res, _ = verifyRoots(m, map[string]string{"a": snaps[1]}, times[4], 0)
	if len(res.Problems) == 0 {
		t.Fatal("a snapshot checked against a later instant passed")
	}
	// With slack covering the whole run, the older instant is admitted.
	res, _ = verifyRoots(m, map[string]string{"a": snaps[3]}, times[1], int64(time.Hour))
	if len(res.Problems) != 0 {
		t.Fatalf("with slack: %q", res.Problems)
	}
}

func TestVerifyFindsDamage(t *testing.T) {
	h := newHarness(t, "a")
	h.steps(40)
	m := h.parsed()
	hist := m.histories()
	var victim string
	for p := range hist {
		if st, err := observe(h.r.osPath(p)); err == nil && st.Present {
			victim = p
			break
		}
	}
	_, rest, _ := cutRoot(victim)
	want, _ := observe(h.r.osPath(victim))
	for _, tc := range []struct {
		name  string
		harm  func(dir string)
		wants string
	}{
		{"flipped byte", func(dir string) {
			f, _ := os.OpenFile(filepath.Join(dir, rest), os.O_RDWR, 0)
			b := make([]byte, 1)
			f.ReadAt(b, 7)
			b[0] ^= 1
			f.WriteAt(b, 7)
			f.Close()
		}, victim + ": " + strings.TrimSuffix(want.String(), want.SHA256[:16])},
		{"missing", func(dir string) { os.Remove(filepath.Join(dir, rest)) }, victim + ": absent, want " + want.String()},
		{"unknown", func(dir string) { os.WriteFile(filepath.Join(dir, "d00", "stray"), []byte("x"), 0o644) }, "a/d00/stray: a file no operation wrote"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, at := h.snapshot("a", strings.ReplaceAll(tc.name, " ", "-"))
			tc.harm(d)
			res, err := verifyRoots(m, map[string]string{"a": d}, at, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Problems) != 1 || !strings.HasPrefix(res.Problems[0], tc.wants) {
				t.Fatalf("problems %q, want one starting %q", res.Problems, tc.wants)
			}
		})
	}
}

func TestVerifyCrossRoot(t *testing.T) {
	h := newHarness(t, "a", "b")
	h.steps(40)
	a1, t1 := h.snapshot("a", "a1")
	b1, _ := h.snapshot("b", "b1")
	h.steps(40)
	b2, _ := h.snapshot("b", "b2")
	m := h.parsed()
	res, err := verifyRoots(m, map[string]string{"a": a1, "b": b1}, t1, 0)
	if err != nil || len(res.Problems) != 0 {
		t.Fatalf("same instant: %v %q", err, res.Problems)
	}
	// Each disk alone fits a window that spans the whole run, but not together.
	res, err = verifyRoots(m, map[string]string{"a": a1, "b": b2}, t1, int64(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := "the files fit no single cut in the capture window 80-160 (they fit cuts none)"
	if len(res.Problems) != 1 || res.Problems[0] != want {
		t.Fatalf("problems %q, want %q", res.Problems, want)
	}
	if _, err := verifyRoots(m, map[string]string{"c": a1}, t1, 0); err == nil || err.Error() != `root "c" is not in the manifest (it has a, b)` {
		t.Fatalf("unknown root: %v", err)
	}
}

// TestFeasibleInFlight checks the cuts at which an operation in flight may be seen.
func TestFeasibleInFlight(t *testing.T) {
	sha := func(c byte) string { return strings.Repeat(string(c), 64) }
	v1 := fileState{true, sha('1'), 10}
	v2 := fileState{true, sha('2'), 10}
	m := &manifest{Ops: []op{
		{Seq: 1, Op: opCreate, Path: "a/x", Done: 2, Result: v1},
		{Seq: 2, Op: opCreate, Path: "a/y", Done: 4, Result: v1},
		{Seq: 3, Op: opOverwrite, Path: "a/x", Done: 6, Result: v2},
		{Seq: 4, Op: opRename, Path: "a/x", To: "a/z", Done: 8, Result: v2},
		{Seq: 5, Op: opDelete, Path: "a/y"}, // never done
	}}
	torn := fileState{true, sha('t'), 10}
	h := m.histories()
	for _, tc := range []struct {
		path string
		seen fileState
		want string
	}{
		{"a/x", fileState{}, "0-1,7-10"},
		{"a/x", v1, "1-5"},
		{"a/x", v2, "1-1,5-7"}, // a create in flight may show any content
		{"a/x", torn, "1-1,5-5"},
		{"a/z", fileState{}, "0-7"},
		{"a/z", v2, "7-10"},
		{"a/y", v1, "3-9"},
		{"a/y", fileState{}, "0-3,9-9"},
	} {
		if got := m.feasible(h[tc.path], tc.seen).String(); got != tc.want {
			t.Errorf("%s seen %s: cuts %s, want %s", tc.path, tc.seen, got, tc.want)
		}
	}
}

func TestRunCommand(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a")
	os.Mkdir(src, 0o755)
	mf := filepath.Join(dir, "m")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"run", "--root", "a=" + src, "--manifest", mf, "--ops", "25", "--max-size", "65536"}, &out, &errOut); err != nil {
		t.Fatalf("run: %v %s", err, errOut.String())
	}
	out.Reset()
	at := time.Now().Format(time.RFC3339Nano)
	if err := run(context.Background(), []string{"verify", "--root", "a=" + src, "--manifest", mf, "--at", at}, &out, &errOut); err != nil {
		t.Fatalf("verify: %v %s", err, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "workload verify: ok: ") || !strings.Contains(out.String(), "cut 50-50 of 50 (window 50-50)") {
		t.Fatalf("verify output %q", out.String())
	}
	err := run(context.Background(), []string{"run", "--root", "a=" + src, "--manifest", filepath.Join(dir, "m2"), "--ops", "1"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "is not empty (holds d00)") {
		t.Fatalf("second run into the same root: %v", err)
	}
	if err := run(context.Background(), []string{"verify", "--root", "a=" + src, "--manifest", mf, "--at", "yesterday"}, &out, &errOut); err == nil || err.Error() != `bad --at "yesterday": want RFC 3339 or unix nanoseconds` {
		t.Fatalf("bad --at: %v", err)
	}
}
