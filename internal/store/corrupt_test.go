package store

// Corruption tests: a store with two points of one machine (the second incremental) is damaged in
// one object at a time, in a fresh copy of its directory, and Check, ReadAt, Export and Open must
// name what is hit (point, disk, offset, pack, blob, object), wrap ErrCorrupt, and never return
// wrong data; what the damage does not hit must still read back byte-exact.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/opensiterecovery/osr/internal/crypto"
)

const corruptPassword = "secret" // newTestRepo's

// corruptFixture is the undamaged store and what is known about it.
type corruptFixture struct {
	dir    string
	keys   *crypto.Keys
	p1, p2 *Point
	img    map[string]map[string][]byte // point ID → disk → image
	// The packs only the second point uses (one of data blobs, one of tree nodes).
	dataPack, treePack ID
	// Where each blob and tree node is used on disk sda of the second point: disk offsets.
	blobUses, leafUses map[ID][]int64
}

func newCorruptFixture(t *testing.T) *corruptFixture {
	t.Helper()
	r, dir := newTestRepo(t)
	fx := &corruptFixture{dir: dir, keys: r.keys, img: map[string]map[string][]byte{}}
	sda1 := randomImage(11, 2<<20)
	sdb := randomImage(12, 512<<10+1000)
	fx.p1 = putImage(t, r, "m", nil, map[string][]byte{"sda": sda1, "sdb": sdb})
	before := fx.packs(t)
	// The second point rewrites 200 KiB across leaves 5 and 6 of sda.
	sda2 := bytes.Clone(sda1)
	copy(sda2[5*LeafBlocks*BlockSize+8192:], randomImage(13, 200<<10))
	fx.p2 = putImage(t, r, "m", fx.p1, map[string][]byte{"sda": sda2, "sdb": sdb})
	fx.img[fx.p1.ID] = map[string][]byte{"sda": sda1, "sdb": sdb}
	fx.img[fx.p2.ID] = map[string][]byte{"sda": sda2, "sdb": sdb}
	if mustDisk(fx.p2, "sdb").Root != mustDisk(fx.p1, "sdb").Root {
		t.Fatal("unchanged disk sdb got a new root")
	}
	for _, id := range fx.packs(t) {
		if slices.Contains(before, id) {
			continue
		}
		_, entries := fx.readPack(t, dir, id)
		switch {
		case entries[0].Type == DataBlob && fx.dataPack.IsZero():
			fx.dataPack = id
		case entries[0].Type == TreeBlob && fx.treePack.IsZero():
			fx.treePack = id
		default:
			t.Fatalf("the second point wrote more than one pack of %s blobs", entries[0].Type)
		}
	}
	if fx.dataPack.IsZero() || fx.treePack.IsZero() {
		t.Fatal("the second point did not write a data pack and a tree pack")
	}
	fx.blobUses, fx.leafUses = diskUses(t, r, fx.p2, "sda")
	// Nothing else reads what is in the second point's packs.
	oldBlobs := map[ID][]int64{}
	for _, u := range []struct {
		pt   *Point
		disk string
	}{{fx.p1, "sda"}, {fx.p1, "sdb"}, {fx.p2, "sdb"}} {
		b, l := diskUses(t, r, u.pt, u.disk)
		for id, offs := range b {
			oldBlobs[id] = offs
		}
		for id, offs := range l {
			oldBlobs[id] = offs
		}
	}
	for _, pack := range []ID{fx.dataPack, fx.treePack} {
		_, entries := fx.readPack(t, dir, pack)
		for _, e := range entries {
			if _, ok := oldBlobs[e.ID]; ok {
				t.Fatalf("blob %s of a new pack is used by an older disk", e.ID.Short())
			}
		}
	}
	return fx
}

// packs lists the pack IDs of the template store.
func (fx *corruptFixture) packs(t *testing.T) []ID {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fx.dir, "data", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []ID
	for _, f := range files {
		id, err := crypto.ParseID(filepath.Base(f))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func objectPath(dir, name string) string { return filepath.Join(dir, filepath.FromSlash(name)) }

func (fx *corruptFixture) readPack(t *testing.T, dir string, id ID) ([]byte, []packEntry) {
	t.Helper()
	b, err := os.ReadFile(objectPath(dir, packName(id)))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := readPackHeader(fx.keys, b)
	if err != nil {
		t.Fatal(err)
	}
	return b, entries
}

// diskUses walks a disk's tree and returns, for each data blob and each leaf, the disk offsets
// where it is used (for a blob: the first byte of each extent), in increasing order.
func diskUses(t *testing.T, r *Repo, pt *Point, disk string) (blobs, leaves map[ID][]int64) {
	t.Helper()
	ctx := context.Background()
	d := mustDisk(pt, disk)
	root, err := d.root()
	if err != nil {
		t.Fatal(err)
	}
	g := d.geometry()
	blobs, leaves = map[ID][]int64{}, map[ID][]int64{}
	for li := int64(0); li < g.leaves(); li++ {
		id, err := nodeAt(ctx, r, root, g, g.height(), 0, li)
		if err != nil {
			t.Fatal(err)
		}
		if id.IsZero() {
			continue
		}
		l, err := loadLeaf(ctx, r, id, g)
		if err != nil {
			t.Fatal(err)
		}
		leaves[id] = append(leaves[id], li*g.leafBytes())
		for _, e := range l.extents() {
			blobs[e.blob] = append(blobs[e.blob], li*g.leafBytes()+int64(e.start*BlockSize))
		}
	}
	return blobs, leaves
}

// damaged returns a fresh copy of the store after edit has damaged it.
func (fx *corruptFixture) damaged(t *testing.T, edit func(dir string)) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "repo")
	err := filepath.Walk(fx.dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(fx.dir, p)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	edit(dst)
	return dst
}

func editFile(t *testing.T, path string, fn func(b []byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

func openStore(t *testing.T, dir string) *Repo {
	t.Helper()
	r, err := Open(context.Background(), newFileBackend(t, dir), []byte(corruptPassword), testOptions())
	if err != nil {
		t.Fatalf("open damaged store: %v", err)
	}
	return r
}

func openErr(t *testing.T, dir, password string) error {
	t.Helper()
	r, err := Open(context.Background(), newFileBackend(t, dir), []byte(password), testOptions())
	if err == nil {
		t.Fatalf("Open succeeded on a damaged store (config %+v)", r.Config())
	}
	return err
}

// wantProblems runs Check and compares its problems with want exactly (order does not matter).
func wantProblems(t *testing.T, r *Repo, readData bool, want ...string) {
	t.Helper()
	rep, err := r.Check(context.Background(), CheckOptions{ReadData: readData})
	if err != nil {
		t.Fatalf("check (read data %v): %v", readData, err)
	}
	want = slices.Clone(want)
	sort.Strings(want)
	if !slices.Equal(rep.Problems, want) {
		t.Fatalf("check (read data %v) problems:\n  got  %q\n  want %q", readData, rep.Problems, want)
	}
}

// exportOK exports a disk and compares it with its image.
func (fx *corruptFixture) exportOK(t *testing.T, r *Repo, pt *Point, disk string) {
	t.Helper()
	sameBytes(t, fmt.Sprintf("export of point %s disk %s", pt.ID[:12], disk), exportDisk(t, r, pt, disk), fx.img[pt.ID][disk])
}

// exportFails exports a disk that the damage hits: the error must wrap ErrCorrupt and match re
// (whose first group is the disk offset it names, at most maxOff), and what was written to the
// image must be the disk's data or a hole (zeros), never wrong data. It returns the error.
func (fx *corruptFixture) exportFails(t *testing.T, r *Repo, pt *Point, disk string, re *regexp.Regexp, maxOff int64) error {
	t.Helper()
	dr, err := r.OpenDisk(pt, disk)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = dr.Export(context.Background(), f, ExportOptions{})
	if err == nil {
		t.Fatalf("export of damaged point %s disk %s succeeded", pt.ID[:12], disk)
	}
	out, rerr := io.ReadAll(f)
	if rerr != nil {
		t.Fatal(rerr)
	}
	img := fx.img[pt.ID][disk]
	for off := 0; off < len(out); off += BlockSize {
		got := out[off:min(off+BlockSize, len(out))]
		if !bytes.Equal(got, img[off:min(off+BlockSize, len(img))]) && !bytes.Equal(got, zeroBlock[:len(got)]) {
			t.Fatalf("failed export wrote wrong data at offset %d", off)
		}
	}
	m := re.FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("export error:\n  got  %v\n  want %v", err, re)
	}
	if off, _ := strconv.ParseInt(m[1], 10, 64); off > maxOff {
		t.Fatalf("export error names offset %d, after the damage at %d: %v", off, maxOff, err)
	}
	return err
}

// readAtFails reads a whole disk with ReadAt: it must stop at offset wantN, return only correct
// bytes before it, and fail with exactly wantErr, wrapping ErrCorrupt.
func (fx *corruptFixture) readAtFails(t *testing.T, r *Repo, pt *Point, disk string, wantN int64, wantErr string) {
	t.Helper()
	dr, err := r.OpenDisk(pt, disk)
	if err != nil {
		t.Fatal(err)
	}
	img := fx.img[pt.ID][disk]
	buf := make([]byte, len(img))
	n, err := dr.ReadAt(buf, 0)
	if err == nil || err.Error() != wantErr {
		t.Fatalf("ReadAt error:\n  got  %v\n  want %s", err, wantErr)
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadAt error does not wrap ErrCorrupt: %v", err)
	}
	if int64(n) != wantN {
		t.Fatalf("ReadAt returned %d bytes before the damage, want %d", n, wantN)
	}
	sameBytes(t, "bytes ReadAt returned before the damage", buf[:n], img[:n])
}

// readAtOK reads a range of a disk that the damage does not hit.
func (fx *corruptFixture) readAtOK(t *testing.T, r *Repo, pt *Point, disk string, off, n int64) {
	t.Helper()
	dr, err := r.OpenDisk(pt, disk)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, n)
	got, err := dr.ReadAt(buf, off)
	if err != nil || int64(got) != n {
		t.Fatalf("ReadAt(%d, %d) of an undamaged range: %d bytes, %v", off, n, got, err)
	}
	sameBytes(t, "ReadAt of an undamaged range", buf, fx.img[pt.ID][disk][off:off+n])
}

// unaffectedExportOK exports every disk that the damage to the second point's sda cannot hit.
func (fx *corruptFixture) unaffectedExportOK(t *testing.T, r *Repo) {
	t.Helper()
	fx.exportOK(t, r, fx.p1, "sda")
	fx.exportOK(t, r, fx.p1, "sdb")
	fx.exportOK(t, r, fx.p2, "sdb")
}

func TestCorruption(t *testing.T) {
	fx := newCorruptFixture(t)
	p2 := fx.p2.ID[:12]
	lb := int64(LeafBlocks * BlockSize)
	dataPack, _ := fx.readPack(t, fx.dir, fx.dataPack)
	_, dataEntries := fx.readPack(t, fx.dir, fx.dataPack)
	_, treeEntries := fx.readPack(t, fx.dir, fx.treePack)
	dp, tp := fx.dataPack.Short(), fx.treePack.Short()
	const authFailed = "ciphertext authentication failed"

	t.Run("data blob", func(t *testing.T) {
		t.Parallel()
		e := dataEntries[0]
		uses := fx.blobUses[e.ID]
		if len(uses) == 0 {
			t.Fatalf("data blob %s is not used by point %s disk sda", e.ID.Short(), p2)
		}
		dir := fx.damaged(t, func(dir string) {
			editFile(t, objectPath(dir, packName(fx.dataPack)), func(b []byte) []byte {
				b[e.Offset+e.Length/2] ^= 0x01
				return b
			})
		})
		r := openStore(t, dir)
		b := e.ID.Short()
		// A flipped bit inside a blob keeps every size right: only reading the data finds it.
		wantProblems(t, r, false)
		want := []string{fmt.Sprintf("pack %s is damaged: content does not match its name (hash)", dp)}
		for _, off := range uses {
			want = append(want, fmt.Sprintf("point %s disk sda offset %d: data blob %s in pack %s at %d is damaged: corrupt: blob %s: %s",
				p2, off, b, dp, e.Offset, b, authFailed))
		}
		wantProblems(t, r, true, want...)
		fx.readAtFails(t, r, fx.p2, "sda", uses[0]/lb*lb,
			fmt.Sprintf("point %s disk sda offset %d: pack %s offset %d: corrupt: blob %s: %s", p2, uses[0], dp, e.Offset, b, authFailed))
		fx.exportFails(t, r, fx.p2, "sda", regexp.MustCompile(fmt.Sprintf(
			`^point %s disk sda offset (\d+): pack %s offset %d: corrupt: blob %s: %s$`, p2, dp, e.Offset, b, authFailed)), uses[0])
		fx.readAtOK(t, r, fx.p2, "sda", 0, 5*lb)
		fx.unaffectedExportOK(t, r)
	})

	t.Run("tree node", func(t *testing.T) {
		t.Parallel()
		var e packEntry
		var loff int64 = -1
		for _, te := range treeEntries {
			if offs := fx.leafUses[te.ID]; len(offs) > 0 {
				e, loff = te, offs[0]
				break
			}
		}
		if loff < 0 {
			t.Fatal("no leaf of point 2 disk sda in its tree pack")
		}
		dir := fx.damaged(t, func(dir string) {
			editFile(t, objectPath(dir, packName(fx.treePack)), func(b []byte) []byte {
				b[e.Offset+e.Length-1] ^= 0x80
				return b
			})
		})
		r := openStore(t, dir)
		l := e.ID.Short()
		// The structure check reads every tree node.
		wantProblems(t, r, false, fmt.Sprintf("point %s disk sda offset %d: tree node %s: pack %s offset %d: corrupt: blob %s: %s",
			p2, loff, l, tp, e.Offset, l, authFailed))
		r = openStore(t, dir) // with an empty node cache
		wantProblems(t, r, true,
			fmt.Sprintf("pack %s is damaged: content does not match its name (hash)", tp),
			fmt.Sprintf("point %s disk sda offset %d: tree node %s in pack %s at %d is damaged: corrupt: blob %s: %s",
				p2, loff, l, tp, e.Offset, l, authFailed))
		fx.readAtFails(t, r, fx.p2, "sda", loff,
			fmt.Sprintf("point %s disk sda offset %d: pack %s offset %d: corrupt: blob %s: %s", p2, loff, tp, e.Offset, l, authFailed))
		fx.exportFails(t, r, fx.p2, "sda", regexp.MustCompile(fmt.Sprintf(
			`^point %s disk sda offset (\d+): pack %s offset %d: corrupt: blob %s: %s$`, p2, tp, e.Offset, l, authFailed)), loff)
		fx.readAtOK(t, r, fx.p2, "sda", 0, 5*lb)
		fx.unaffectedExportOK(t, r)
	})

	t.Run("pack header", func(t *testing.T) {
		t.Parallel()
		hl := int(binary.LittleEndian.Uint32(dataPack[len(dataPack)-4:]))
		dir := fx.damaged(t, func(dir string) {
			editFile(t, objectPath(dir, packName(fx.dataPack)), func(b []byte) []byte {
				b[len(b)-4-hl/2] ^= 0x10
				return b
			})
		})
		r := openStore(t, dir)
		// Reads go through the index, not the header: every blob is intact.
		wantProblems(t, r, false)
		wantProblems(t, r, true, fmt.Sprintf("pack %s is damaged: content does not match its name (hash); header: corrupt: pack header: %s", dp, authFailed))
		fx.exportOK(t, r, fx.p2, "sda")
		fx.unaffectedExportOK(t, r)
	})

	t.Run("truncated pack", func(t *testing.T) {
		t.Parallel()
		cut := len(dataPack) / 2
		var lost []packEntry
		first := int64(-1)
		for _, e := range dataEntries {
			if int(e.Offset+e.Length) > cut {
				lost = append(lost, e)
				if u := fx.blobUses[e.ID]; len(u) > 0 && (first < 0 || u[0] < first) {
					first = u[0]
				}
			}
		}
		if len(lost) == 0 || first < 0 {
			t.Fatal("cutting the pack in half loses no used blob")
		}
		dir := fx.damaged(t, func(dir string) {
			editFile(t, objectPath(dir, packName(fx.dataPack)), func(b []byte) []byte { return b[:cut] })
		})
		r := openStore(t, dir)
		_, herr := readPackHeader(fx.keys, dataPack[:cut])
		if herr == nil {
			t.Fatal("truncated pack header reads")
		}
		structural := []string{}
		withData := []string{fmt.Sprintf("pack %s is damaged: content does not match its name (hash); header: %v", dp, herr)}
		for _, e := range lost {
			for _, off := range fx.blobUses[e.ID] {
				structural = append(structural, fmt.Sprintf("point %s disk sda offset %d: data blob %s: pack %s has %d bytes, index places it at %d+%d",
					p2, off, e.ID.Short(), dp, cut, e.Offset, e.Length))
				withData = append(withData, fmt.Sprintf("point %s disk sda offset %d: data blob %s in pack %s at %d is damaged: beyond the end of its pack",
					p2, off, e.ID.Short(), dp, e.Offset))
			}
		}
		wantProblems(t, r, false, structural...)
		wantProblems(t, r, true, withData...)
		fx.unaffectedExportOK(t, r)
		fx.readAtOK(t, r, fx.p2, "sda", 0, 5*lb)

		// Reading a blob past the end of a truncated pack: the backend refuses the range.
		dr, err := r.OpenDisk(fx.p2, "sda")
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(fx.img[fx.p2.ID]["sda"]))
		n, err := dr.ReadAt(buf, 0)
		if err == nil || int64(n) > first {
			t.Fatalf("ReadAt of a truncated pack: %d bytes, %v", n, err)
		}
		sameBytes(t, "bytes ReadAt returned before the damage", buf[:n], fx.img[fx.p2.ID]["sda"][:n])
		if !strings.HasPrefix(err.Error(), fmt.Sprintf("point %s disk sda offset %d: ", p2, first)) {
			t.Fatalf("ReadAt error does not name point, disk and offset: %v", err)
		}
		f, ferr := os.Create(filepath.Join(t.TempDir(), "out.raw"))
		if ferr != nil {
			t.Fatal(ferr)
		}
		defer f.Close()
		xerr := dr.Export(context.Background(), f, ExportOptions{})
		if xerr == nil || !strings.HasPrefix(xerr.Error(), fmt.Sprintf("point %s disk sda offset ", p2)) || !strings.Contains(xerr.Error(), "pack "+dp) {
			t.Fatalf("export of a truncated pack: %v", xerr)
		}
		if !errors.Is(err, ErrCorrupt) || !errors.Is(xerr, ErrCorrupt) {
			t.Fatalf("a pack shorter than the index says is not reported as corrupt:\n  ReadAt: %v\n  Export: %v", err, xerr)
		}
	})

	t.Run("deleted pack", func(t *testing.T) {
		t.Parallel()
		dir := fx.damaged(t, func(dir string) {
			if err := os.Remove(objectPath(dir, packName(fx.dataPack))); err != nil {
				t.Fatal(err)
			}
		})
		r := openStore(t, dir)
		var want []string
		first, firstBlob := int64(-1), ID{}
		for _, e := range dataEntries {
			for _, off := range fx.blobUses[e.ID] {
				want = append(want, fmt.Sprintf("point %s disk sda offset %d: data blob %s: pack %s is missing", p2, off, e.ID.Short(), dp))
				if first < 0 || off < first {
					first, firstBlob = off, e.ID
				}
			}
		}
		wantProblems(t, r, false, want...)
		wantProblems(t, r, true, want...)
		// The backend's not-found error follows; it names the object.
		dr, _ := r.OpenDisk(fx.p2, "sda")
		n, err := dr.ReadAt(make([]byte, len(fx.img[fx.p2.ID]["sda"])), 0)
		prefix := fmt.Sprintf("point %s disk sda offset %d: corrupt: pack %s holding blob %s is missing: ", p2, first, dp, firstBlob.Short())
		if err == nil || !strings.HasPrefix(err.Error(), prefix) || !errors.Is(err, ErrCorrupt) || int64(n) != first/lb*lb {
			t.Fatalf("ReadAt with a missing pack: %d bytes, %v\n  want %d bytes, %s...", n, err, first/lb*lb, prefix)
		}
		fx.exportFails(t, r, fx.p2, "sda", regexp.MustCompile(fmt.Sprintf(
			`^point %s disk sda offset (\d+): corrupt: pack %s is missing: .*%s`, p2, dp, regexp.QuoteMeta(packName(fx.dataPack)))), first)
		fx.unaffectedExportOK(t, r)
	})

	t.Run("index object", func(t *testing.T) {
		t.Parallel()
		files, _ := filepath.Glob(filepath.Join(fx.dir, "index", "*"))
		if len(files) != 2 {
			t.Fatalf("%d index objects, want 2", len(files))
		}
		name := "index/" + filepath.Base(files[0])
		for _, c := range []struct {
			what string
			edit func(b []byte) []byte
			want string
		}{
			{"flipped byte", func(b []byte) []byte { b[len(b)/2] ^= 4; return b }, "corrupt: index object " + name + ": " + authFailed},
			{"garbage", func(b []byte) []byte { return bytes.Repeat([]byte("garbage!"), 40) }, "corrupt: index object " + name + ": " + authFailed},
			{"truncated", func(b []byte) []byte { return b[:10] }, "corrupt: index object " + name + ": ciphertext of 10 bytes is too short: " + authFailed},
			{"authentic garbage", func([]byte) []byte { return fx.keys.Seal(nil, []byte("not an index"), []byte(indexAD)) },
				"index object " + name + ": corrupt: index: bad magic"},
			{"authentic newer version", func([]byte) []byte { return fx.keys.Seal(nil, []byte("OSRI\x02"), []byte(indexAD)) },
				"index object " + name + ": index version 2 is newer than this osr supports (1)"},
		} {
			dir := fx.damaged(t, func(dir string) { editFile(t, objectPath(dir, name), c.edit) })
			err := openErr(t, dir, corruptPassword)
			if err.Error() != c.want {
				t.Errorf("%s index object: Open error\n  got  %v\n  want %s", c.what, err, c.want)
			}
			if !errors.Is(err, ErrCorrupt) && c.what != "authentic newer version" {
				t.Errorf("%s index object: Open error does not wrap ErrCorrupt: %v", c.what, err)
			}
		}
	})

	t.Run("point object", func(t *testing.T) {
		t.Parallel()
		name := pointsPrefix + fx.p2.ID
		dir := fx.damaged(t, func(dir string) {
			editFile(t, objectPath(dir, name), func(b []byte) []byte { b[len(b)-20] ^= 2; return b })
		})
		r := openStore(t, dir)
		want := fmt.Sprintf("corrupt: point object %s: %s", name, authFailed)
		wantProblems(t, r, false, fmt.Sprintf("point %s: %s", fx.p2.ID, want))
		wantProblems(t, r, true, fmt.Sprintf("point %s: %s", fx.p2.ID, want))
		ctx := context.Background()
		if _, err := r.LoadPoint(ctx, fx.p2.ID); err == nil || err.Error() != want || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("LoadPoint of the damaged point: %v\n  want %s", err, want)
		}
		// Listing skips the damaged point (check reports it), so the others stay usable.
		if p, err := r.ResolvePoint(ctx, "m", "latest"); err != nil || p.ID != fx.p1.ID {
			t.Fatalf("ResolvePoint with a damaged point object: %v, %v; want the intact point %s", p, err, fx.p1.ID)
		}
		p1, err := r.LoadPoint(ctx, fx.p1.ID)
		if err != nil {
			t.Fatal(err)
		}
		fx.exportOK(t, r, p1, "sda")
		fx.exportOK(t, r, p1, "sdb")

		// An authentic point object under another point's name.
		dir = fx.damaged(t, func(dir string) {
			b, err := os.ReadFile(objectPath(dir, pointsPrefix+fx.p1.ID))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(objectPath(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		})
		r = openStore(t, dir)
		want = fmt.Sprintf("corrupt: point object %s holds point %s", name, fx.p1.ID)
		if _, err := r.LoadPoint(ctx, fx.p2.ID); err == nil || err.Error() != want {
			t.Fatalf("LoadPoint of a swapped point object: %v\n  want %s", err, want)
		}
		wantProblems(t, r, true, fmt.Sprintf("point %s: %s", fx.p2.ID, want))
	})

	t.Run("key file", func(t *testing.T) {
		t.Parallel()
		files, _ := filepath.Glob(filepath.Join(fx.dir, "keys", "*"))
		if len(files) != 1 {
			t.Fatalf("%d key files, want 1", len(files))
		}
		name := "keys/" + filepath.Base(files[0])
		const wrongPassword = "wrong password: it opens no key of this store"
		editKey := func(fn func(kf *crypto.KeyFile)) func([]byte) []byte {
			return func(b []byte) []byte {
				var kf crypto.KeyFile
				if err := json.Unmarshal(b, &kf); err != nil {
					t.Fatal(err)
				}
				fn(&kf)
				out, err := json.Marshal(&kf)
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
		}
		for _, c := range []struct {
			what string
			edit func(b []byte) []byte
			want string
		}{
			// Authenticated encryption cannot tell a damaged key file from a wrong password.
			{"flipped data byte", editKey(func(kf *crypto.KeyFile) { kf.Data[len(kf.Data)/2] ^= 1 }), wrongPassword},
			{"flipped salt byte", editKey(func(kf *crypto.KeyFile) { kf.Salt[3] ^= 1 }), wrongPassword},
			{"garbage", func([]byte) []byte { return []byte("\x00garbage") },
				name + ": key file is not valid JSON: invalid character '\\x00' looking for beginning of value"},
			{"truncated", func(b []byte) []byte { return b[:len(b)/2] }, name + ": key file is not valid JSON: unexpected end of JSON input"},
			{"newer version", editKey(func(kf *crypto.KeyFile) { kf.Version = 2 }),
				name + ": key file version 2 is not supported (this osr reads version 1)"},
			{"short salt", editKey(func(kf *crypto.KeyFile) { kf.Salt = kf.Salt[:8] }), name + ": key file is truncated: salt or data too short"},
			{"hostile kdf", editKey(func(kf *crypto.KeyFile) { kf.Params.Memory = 1 << 30 }),
				name + ": key file has unusable kdf parameters {Time:1 Memory:1073741824 Threads:1}"},
		} {
			dir := fx.damaged(t, func(dir string) { editFile(t, objectPath(dir, name), c.edit) })
			if err := openErr(t, dir, corruptPassword); err.Error() != c.want {
				t.Errorf("%s key file: Open error\n  got  %v\n  want %s", c.what, err, c.want)
			}
		}
		err := openErr(t, fx.dir, "not the password")
		if err.Error() != wrongPassword || !errors.Is(err, crypto.ErrWrongPassword) {
			t.Errorf("wrong password: %v", err)
		}
		// A damaged key file next to a good one does not stop the good one.
		dir := fx.damaged(t, func(dir string) {
			if err := os.WriteFile(filepath.Join(dir, "keys", strings.Repeat("0", 64)), []byte("{garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
		})
		fx.exportOK(t, openStore(t, dir), fx.p2, "sda")
		// No key file at all.
		dir = fx.damaged(t, func(dir string) {
			if err := os.Remove(objectPath(dir, name)); err != nil {
				t.Fatal(err)
			}
		})
		loc := newFileBackend(t, dir).Location()
		if err := openErr(t, dir, corruptPassword); err.Error() != "the store at "+loc+" has no key files" {
			t.Errorf("no key file: %v", err)
		}
	})

	t.Run("config", func(t *testing.T) {
		t.Parallel()
		editConfig := func(fn func(m map[string]any)) func([]byte) []byte {
			return func(b []byte) []byte {
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatal(err)
				}
				fn(m)
				out, _ := json.Marshal(m)
				return out
			}
		}
		for _, c := range []struct {
			what string
			edit func(b []byte) []byte
			want string // %s: the store's location
		}{
			{"newer version", editConfig(func(m map[string]any) { m["version"] = 2 }),
				"the store at %s has format version 2, newer than this osr supports (1): upgrade osr"},
			{"version 0", editConfig(func(m map[string]any) { m["version"] = 0 }), "the store at %s has an invalid format version 0"},
			{"other format", editConfig(func(m map[string]any) { m["format"] = "osr-vault-storX" }),
				"%s does not hold an osr vault store: config object is not valid"},
			{"garbage", func([]byte) []byte { return []byte("\xff\xfegarbage") }, "%s does not hold an osr vault store: config object is not valid"},
			{"truncated", func(b []byte) []byte { return b[:len(b)-3] }, "%s does not hold an osr vault store: config object is not valid"},
			{"flipped byte", func(b []byte) []byte { b[bytes.IndexByte(b, ':')] ^= 1; return b },
				"%s does not hold an osr vault store: config object is not valid"},
		} {
			dir := fx.damaged(t, func(dir string) { editFile(t, objectPath(dir, configName), c.edit) })
			want := fmt.Sprintf(c.want, newFileBackend(t, dir).Location())
			if err := openErr(t, dir, corruptPassword); err.Error() != want {
				t.Errorf("%s config: Open error\n  got  %v\n  want %s", c.what, err, want)
			}
		}
		dir := fx.damaged(t, func(dir string) {
			if err := os.Remove(objectPath(dir, configName)); err != nil {
				t.Fatal(err)
			}
		})
		err := openErr(t, dir, corruptPassword)
		want := newFileBackend(t, dir).Location() + ": no vault store at this location (run 'osr store init')"
		if err.Error() != want || !errors.Is(err, ErrNotInitialized) {
			t.Errorf("missing config: %v\n  want %s", err, want)
		}
	})

	// Sanity: the template is intact after all of the above.
	t.Cleanup(func() {
		r := openStore(t, fx.dir)
		if rep, err := r.Check(context.Background(), CheckOptions{ReadData: true}); err != nil || len(rep.Problems) > 0 {
			t.Errorf("undamaged store: %v %v", err, rep)
		}
	})
}
