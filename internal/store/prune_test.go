package store

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/retention"
)

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func mustCheck(t *testing.T, r *Repo, readData bool) {
	t.Helper()
	rep, err := r.Check(context.Background(), CheckOptions{ReadData: readData})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) > 0 {
		t.Fatalf("check found problems: %v", rep.Problems)
	}
}

func TestPruneThinsAndFrees(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	fc := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	opts := testOptions()
	opts.Clock = fc
	ctx := context.Background()
	r, err := Init(ctx, newFileBackend(t, dir), []byte("secret"), opts)
	if err != nil {
		t.Fatal(err)
	}
	img := randomImage(1, 4<<20)
	var pts []*Point
	var imgs [][]byte
	var parent *Point
	for i := 0; i < 30; i++ { // one point every 20 minutes for 10 hours, each rewriting 1 MiB
		copy(img[(i%4)<<20:], randomImage(uint64(100+i), 1<<20))
		w, err := r.NewWriter(ctx, "m", parent, []DiskSpec{{"sda", int64(len(img))}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Disk("sda").WriteAt(img, 0); err != nil {
			t.Fatal(err)
		}
		c := Consistency(CrashConsistent)
		if i == 3 {
			c = AppConsistent
		}
		pt, err := w.Commit(ctx, CommitMeta{Consistency: c})
		if err != nil {
			t.Fatal(err)
		}
		pts = append(pts, pt)
		imgs = append(imgs, append([]byte(nil), img...))
		parent = pt
		fc.Advance(20 * time.Minute)
	}
	before := dirSize(t, dir)
	rep, err := r.Prune(ctx, PruneOptions{Policy: retention.Policy{KeepAll: 2 * time.Hour, Window: 6 * time.Hour, Interval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	after := dirSize(t, dir)
	if len(rep.Forgotten) == 0 || rep.PacksDeleted == 0 || after >= before {
		t.Fatalf("prune freed nothing: %+v, %d -> %d bytes", rep, before, after)
	}
	if rep.Reasons[pts[3].ID] == "" {
		t.Fatalf("newest app-consistent point was not kept: %v", rep.Reasons)
	}
	r2 := reopenRepo(t, dir)
	mustCheck(t, r2, true)
	kept := map[string]bool{}
	for _, p := range rep.Kept {
		kept[p.ID] = true
	}
	for i, p := range pts {
		if kept[p.ID] {
			sameBytes(t, "kept point", exportDisk(t, r2, p, "sda"), imgs[i])
		}
	}
	if len(kept)+len(rep.Forgotten) != len(pts) {
		t.Fatalf("kept %d + forgotten %d != %d", len(kept), len(rep.Forgotten), len(pts))
	}
}

// A writer that began before a prune dedups against data the prune finds unreferenced; the prune
// must defer deleting it, and the point must stay whole.
func TestPruneDuringWriter(t *testing.T) {
	r, dir := newTestRepo(t)
	ctx := context.Background()
	a := randomImage(7, 2<<20)
	putImage(t, r, "old", nil, map[string][]byte{"d": a})
	// The writer for machine "new" starts now and will write the same content as "old".
	w, err := r.NewWriter(ctx, "new", nil, []DiskSpec{{"d", int64(len(a))}})
	if err != nil {
		t.Fatal(err)
	}
	// Forget "old" entirely: a window of 1ns keeps only the newest point, so drop it by hand.
	pts, _ := r.Points(ctx, "old")
	if err := r.be.Delete(ctx, pointsPrefix+pts[0].ID); err != nil {
		t.Fatal(err)
	}
	pr := reopenRepo(t, dir)
	rep, err := pr.Prune(ctx, PruneOptions{Policy: retention.DefaultPolicy(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PacksDeferred == 0 || rep.PacksDeleted != 0 {
		t.Fatalf("prune with a live writer: want deferral, got %+v", rep)
	}
	if _, err := w.Disk("d").WriteAt(a, 0); err != nil {
		t.Fatal(err)
	}
	pt, err := w.Commit(ctx, CommitMeta{})
	if err != nil {
		t.Fatal(err)
	}
	// Before any further prune, the new point reads back whole: condemned blobs stay readable.
	r2 := reopenRepo(t, dir)
	mustCheck(t, r2, true)
	sameBytes(t, "point committed across a prune", exportDisk(t, r2, pt, "d"), a)
	// The next prune sees the new point use the condemned packs and keeps them.
	rep, err = pr.Prune(ctx, PruneOptions{Policy: retention.DefaultPolicy(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PacksRescued == 0 {
		t.Fatalf("want rescued packs, got %+v", rep)
	}
	r3 := reopenRepo(t, dir)
	mustCheck(t, r3, true)
	sameBytes(t, "point written across a prune", exportDisk(t, r3, pt, "d"), a)
}

// A lock left by a process of this host that is gone does not hold a prune back.
func TestDeadProcessLockIsStale(t *testing.T) {
	r, _ := newTestRepo(t)
	ctx := context.Background()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	now := r.opts.Clock.Now().UTC()
	dead := LockInfo{Kind: LockWrite, Hostname: r.opts.Hostname, PID: cmd.Process.Pid, Created: now, Refreshed: now}
	if err := r.writeLock(ctx, locksPrefix+"dead", &dead); err != nil {
		t.Fatal(err)
	}
	alive := dead
	alive.PID = os.Getppid()
	if err := r.writeLock(ctx, locksPrefix+"alive", &alive); err != nil {
		t.Fatal(err)
	}
	n, err := r.RemoveStaleLocks(ctx)
	if err != nil || n != 1 {
		t.Fatalf("removed %d stale locks (%v), want 1", n, err)
	}
	locks, _ := r.Locks(ctx)
	if len(locks) != 1 || locks[0].Name != locksPrefix+"alive" {
		t.Fatalf("locks left: %+v", locks)
	}
}

// A prune that cannot read a point deletes nothing: the data may be that point's.
func TestPruneRefusesDamagedPoint(t *testing.T) {
	r, dir := newTestRepo(t)
	ctx := context.Background()
	putImage(t, r, "a", nil, map[string][]byte{"d": randomImage(1, 1<<20)})
	pb := putImage(t, r, "b", nil, map[string][]byte{"d": randomImage(2, 1<<20)})
	name := filepath.Join(dir, "points", pb.ID)
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
	before := dirSize(t, dir)
	_, err = r.Prune(ctx, PruneOptions{Policy: retention.DefaultPolicy(24 * time.Hour)})
	if err == nil || !strings.Contains(err.Error(), "corrupt: point object points/"+pb.ID) {
		t.Fatalf("prune with a damaged point: %v", err)
	}
	if after := dirSize(t, dir); after != before {
		t.Fatalf("prune changed the store: %d -> %d bytes", before, after)
	}
}

// A writer that starts after a prune condemned data does not build on it: it stores its own copy,
// so the condemned packs can go once the writers of their time are gone.
func TestNoDedupAgainstCondemned(t *testing.T) {
	r, dir := newTestRepo(t)
	ctx := context.Background()
	a := randomImage(8, 1<<20)
	old := putImage(t, r, "old", nil, map[string][]byte{"d": a})
	if err := r.be.Delete(ctx, pointsPrefix+old.ID); err != nil {
		t.Fatal(err)
	}
	// A live writer makes the prune condemn instead of delete.
	w, err := r.NewWriter(ctx, "busy", nil, []DiskSpec{{"d", 4096}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	rep, err := r.Prune(ctx, PruneOptions{Policy: retention.DefaultPolicy(24 * time.Hour)})
	if err != nil || rep.PacksDeferred == 0 {
		t.Fatalf("prune: %+v %v", rep, err)
	}
	r2 := reopenRepo(t, dir)
	late := putImage(t, r2, "late", nil, map[string][]byte{"d": a})
	if late.Stats.DataBlobs == 0 {
		t.Fatal("a writer after the prune deduplicated against condemned data")
	}
	sameBytes(t, "late point", exportDisk(t, r2, late, "d"), a)
}
