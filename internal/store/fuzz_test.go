package store

// Fuzz targets for every decoder of stored data. Properties checked for each:
//   - no input makes a decoder panic;
//   - a decoder either succeeds or returns an error that wraps ErrCorrupt or is a version error;
//   - what decodes re-encodes to something that decodes to the same value, the canonical encoding
//     is a fixed point, and a canonical input re-encodes to exactly its own bytes. The binary
//     encodings admit exactly two kinds of non-canonical input: varints that are not minimal and,
//     in leaves, extents that could be merged with their neighbour. Both only make an encoding
//     longer, so a non-canonical input re-encodes strictly shorter.
//
// Seed corpora are committed under testdata/fuzz/FuzzXxx/. The files named seed-* are written by
//
//	go test ./internal/store -run '^TestUpdateFuzzSeeds$' -update-fuzz-seeds
//
// from the real encoders (a small store built with the fixed key below, plus synthetic values) and
// from truncated and garbage variants; other files there are crashers found by fuzzing, kept as
// regression tests. Run one target with
//
//	go test -run '^$' -fuzz '^FuzzLeaf$' -fuzztime 30s ./internal/store
//
// or all of them with scripts/fuzz-short.sh.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/opensiterecovery/osr/internal/crypto"
)

var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite the generated seed corpora (testdata/fuzz/*/seed-*)")

// fuzzMasterKey is fixed, so that the committed sealed seeds (packs, blobs) stay authentic.
var fuzzMasterKey = func() *crypto.MasterKey {
	var mk crypto.MasterKey
	for i := range mk.Encrypt {
		mk.Encrypt[i] = byte(1 + i)
		mk.Hash[i] = byte(0xa0 + i)
	}
	return &mk
}()

var fuzzFixture struct {
	once  sync.Once
	keys  *crypto.Keys
	codec *codec
	err   error
}

func fuzzCrypto(tb testing.TB) (*crypto.Keys, *codec) {
	tb.Helper()
	fuzzFixture.once.Do(func() {
		fuzzFixture.keys, fuzzFixture.err = crypto.NewKeys(fuzzMasterKey)
		if fuzzFixture.err == nil {
			fuzzFixture.codec, fuzzFixture.err = newCodec(fuzzFixture.keys, 1)
		}
	})
	if fuzzFixture.err != nil {
		tb.Fatal(fuzzFixture.err)
	}
	return fuzzFixture.keys, fuzzFixture.codec
}

// checkDecodeErr fails unless err wraps ErrCorrupt or is a format version error.
func checkDecodeErr(t *testing.T, what string, err error) {
	t.Helper()
	if errors.Is(err, ErrCorrupt) || strings.Contains(err.Error(), "is newer than this osr supports (1)") {
		return
	}
	t.Fatalf("%s: error neither wraps ErrCorrupt nor is a version error: %v", what, err)
}

// canonScan walks an encoding that a decoder accepted and notes whether every varint is minimal.
type canonScan struct {
	b       []byte
	minimal bool
}

func newCanonScan(b []byte) *canonScan { return &canonScan{b: b, minimal: true} }

func (s *canonScan) skip(n int) { s.b = s.b[n:] }

func (s *canonScan) uv() uint64 {
	v, n := binary.Uvarint(s.b)
	if n <= 0 {
		panic("canonScan: bad varint in an accepted encoding")
	}
	if n != len(binary.AppendUvarint(nil, v)) {
		s.minimal = false
	}
	s.b = s.b[n:]
	return v
}

// leafCanonical reports whether b, which decodes to l, is the canonical encoding of l: minimal
// varints, and maximal extents. The extents a decoder accepts partition the present blocks into
// runs that each lie inside one maximal run, so the same count means the same extents.
func leafCanonical(b []byte, l *leaf) bool {
	s := newCanonScan(b)
	s.skip(1)
	s.uv()
	s.skip(bitmapLen(l.span) + l.count()*fpSize)
	n := s.uv()
	for i := uint64(0); i < n; i++ {
		s.uv()
		s.uv()
		s.uv()
		s.skip(crypto.IDSize)
	}
	return s.minimal && int(n) == len(l.extents())
}

func interiorCanonical(b []byte) bool {
	s := newCanonScan(b)
	s.skip(1)
	s.uv()
	return s.minimal
}

func packHeaderCanonical(b []byte) bool {
	s := newCanonScan(b)
	s.skip(5)
	n := s.uv()
	for i := uint64(0); i < n; i++ {
		s.skip(1 + crypto.IDSize)
		s.uv()
		s.uv()
	}
	return s.minimal
}

func indexCanonical(b []byte) bool {
	s := newCanonScan(b)
	s.skip(5)
	n := s.uv()
	s.skip(int(n) * crypto.IDSize)
	for range 2 { // packs, then condemned packs: the same layout
		np := s.uv()
		for i := uint64(0); i < np; i++ {
			s.skip(crypto.IDSize)
			nb := s.uv()
			for j := uint64(0); j < nb; j++ {
				s.skip(1 + crypto.IDSize)
				s.uv()
				s.uv()
				s.uv()
			}
		}
	}
	return s.minimal
}

// checkReencoding asserts the canonical-encoding properties for input in and its re-encoding re.
func checkReencoding(t *testing.T, what string, in, re []byte, canonical bool) {
	t.Helper()
	if canonical && !bytes.Equal(re, in) {
		t.Fatalf("%s: canonical input re-encodes differently:\n in %x\n re %x", what, in, re)
	}
	if !canonical && len(re) >= len(in) {
		t.Fatalf("%s: non-canonical input of %d bytes re-encodes to %d bytes", what, len(in), len(re))
	}
}

func checkLeafInvariants(t *testing.T, l *leaf) {
	t.Helper()
	if l.span < 1 || l.span > maxLeafBlocks {
		t.Fatalf("decoded leaf has span %d", l.span)
	}
	if l.span < 64 && l.present>>uint(l.span) != 0 {
		t.Fatalf("decoded leaf has present bits beyond its span %d: %x", l.span, l.present)
	}
	for i := 0; i < maxLeafBlocks; i++ {
		if !l.has(i) && (l.fp[i] != fingerprint{} || l.ref[i] != blockRef{}) {
			t.Fatalf("decoded leaf has a fingerprint or reference for absent block %d", i)
		}
	}
	n := 0
	for _, e := range l.extents() {
		if e.start < 0 || e.count < 1 || e.start+e.count > l.span || e.off < 0 || e.off+e.count > 1<<16 {
			t.Fatalf("decoded leaf has extent %+v out of range (span %d)", e, l.span)
		}
		n += e.count
	}
	if n != l.count() {
		t.Fatalf("extents cover %d blocks, %d present", n, l.count())
	}
}

func checkLeafRoundTrip(t *testing.T, in []byte, l *leaf) {
	t.Helper()
	checkLeafInvariants(t, l)
	re := encodeLeaf(l)
	l2, err := decodeLeaf(re)
	if err != nil {
		t.Fatalf("re-encoded leaf does not decode: %v\n in %x\n re %x", err, in, re)
	}
	if *l2 != *l {
		t.Fatalf("leaf round trip differs:\n in %x\n re %x", in, re)
	}
	if re2 := encodeLeaf(l2); !bytes.Equal(re2, re) {
		t.Fatalf("canonical leaf encoding is not a fixed point")
	}
	checkReencoding(t, "leaf", in, re, leafCanonical(in, l))
}

func checkInteriorRoundTrip(t *testing.T, in []byte, n *interior) {
	t.Helper()
	if n.fanout < 2 || n.fanout > maxFanout || len(n.children) != n.fanout {
		t.Fatalf("decoded interior node has fanout %d and %d children", n.fanout, len(n.children))
	}
	re := encodeInterior(n)
	n2, err := decodeInterior(re)
	if err != nil {
		t.Fatalf("re-encoded interior node does not decode: %v\n in %x\n re %x", err, in, re)
	}
	if n2.fanout != n.fanout || !slices.Equal(n2.children, n.children) {
		t.Fatalf("interior node round trip differs:\n in %x\n re %x", in, re)
	}
	checkReencoding(t, "interior node", in, re, interiorCanonical(in))
}

// checkPackEntries asserts that entries are a valid pack layout of dataLen bytes.
func checkPackEntries(t *testing.T, entries []packEntry, dataLen uint64) {
	t.Helper()
	var off uint64
	for i, e := range entries {
		if e.Type != DataBlob && e.Type != TreeBlob {
			t.Fatalf("entry %d has type %d", i, e.Type)
		}
		if uint64(e.Offset) != off || e.Length < crypto.Overhead+1 || e.RawLength > 4*maxBlobBytes {
			t.Fatalf("entry %d %+v is out of place (expected offset %d)", i, e, off)
		}
		off += uint64(e.Length)
	}
	if off != dataLen {
		t.Fatalf("entries cover %d bytes, data has %d", off, dataLen)
	}
}

func FuzzPackHeader(f *testing.F) {
	f.Add([]byte(nil), uint64(0))
	f.Add(encodePackHeader(nil), uint64(0))
	e := sampleEntries()
	f.Add(encodePackHeader(e), entriesLen(e))
	f.Fuzz(func(t *testing.T, hdr []byte, dataLen uint64) {
		entries, err := decodePackHeader(hdr, dataLen)
		if err != nil {
			checkDecodeErr(t, "decodePackHeader", err)
			return
		}
		checkPackEntries(t, entries, dataLen)
		re := encodePackHeader(entries)
		e2, err := decodePackHeader(re, dataLen)
		if err != nil {
			t.Fatalf("re-encoded pack header does not decode: %v", err)
		}
		if !slices.Equal(e2, entries) {
			t.Fatalf("pack header round trip differs")
		}
		checkReencoding(t, "pack header", hdr, re, packHeaderCanonical(hdr))
	})
}

func FuzzIndex(f *testing.F) {
	f.Add([]byte(nil))
	f.Add(encodeIndex(&indexFile{}))
	f.Add(encodeIndex(sampleIndex()))
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := decodeIndex(b)
		if err != nil {
			checkDecodeErr(t, "decodeIndex", err)
			return
		}
		for _, p := range ix.Packs {
			for _, e := range p.Blobs {
				if (e.Type != DataBlob && e.Type != TreeBlob) || e.Length < crypto.Overhead+1 || e.RawLength > 4*maxBlobBytes {
					t.Fatalf("index entry %+v out of range", e)
				}
			}
		}
		re := encodeIndex(ix)
		ix2, err := decodeIndex(re)
		if err != nil {
			t.Fatalf("re-encoded index does not decode: %v", err)
		}
		if !indexEqual(ix, ix2) {
			t.Fatalf("index round trip differs")
		}
		checkReencoding(t, "index", b, re, indexCanonical(b))
		// What LoadIndex does with it must not panic either.
		in := newIndex()
		for _, p := range ix.Packs {
			in.addPack(p.ID, p.Blobs)
		}
		in.Each(func(ID, blobLoc) {})
		_ = in.packSet()
	})
}

// indexEqual compares decoded indexes, treating nil and empty slices alike.
func indexEqual(a, b *indexFile) bool {
	if !slices.Equal(a.Supersedes, b.Supersedes) || len(a.Packs) != len(b.Packs) {
		return false
	}
	for i := range a.Packs {
		if a.Packs[i].ID != b.Packs[i].ID || !slices.Equal(a.Packs[i].Blobs, b.Packs[i].Blobs) {
			return false
		}
	}
	return true
}

func FuzzLeaf(f *testing.F) {
	for _, l := range sampleLeaves() {
		f.Add(encodeLeaf(l))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeLeaf(b)
		if err != nil {
			checkDecodeErr(t, "decodeLeaf", err)
			return
		}
		checkLeafRoundTrip(t, b, l)
	})
}

func FuzzInterior(f *testing.F) {
	for _, n := range sampleInteriors() {
		f.Add(encodeInterior(n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decodeInterior(b)
		if err != nil {
			checkDecodeErr(t, "decodeInterior", err)
			return
		}
		checkInteriorRoundTrip(t, b, n)
	})
}

func FuzzDecodeNode(f *testing.F) {
	f.Add([]byte{})
	f.Add(encodeLeaf(sampleLeaves()[0]))
	f.Add(encodeInterior(sampleInteriors()[0]))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decodeNode(b)
		if err != nil {
			checkDecodeErr(t, "decodeNode", err)
			return
		}
		switch n := n.(type) {
		case *leaf:
			if b[0] != 'L' {
				t.Fatalf("node of type %q decoded as a leaf", b[0])
			}
			checkLeafRoundTrip(t, b, n)
		case *interior:
			if b[0] != 'I' {
				t.Fatalf("node of type %q decoded as an interior node", b[0])
			}
			checkInteriorRoundTrip(t, b, n)
		default:
			t.Fatalf("decodeNode returned %T", n)
		}
	})
}

func FuzzPoint(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add(samplePointJSON())
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Point
		if err := json.Unmarshal(b, &p); err != nil {
			return
		}
		if err := p.validate(); err != nil {
			return
		}
		for i := range p.Disks {
			d := &p.Disks[i]
			g := d.geometry()
			if g.height() < 0 || g.leaves() < 0 || g.blocks() < 0 {
				t.Fatalf("disk %q: geometry %+v gives negative counts", d.Name, g)
			}
			if _, err := (&Repo{}).OpenDisk(&p, d.Name); err != nil {
				t.Fatalf("valid point: OpenDisk(%q): %v", d.Name, err)
			}
		}
		out, err := json.Marshal(&p)
		if err != nil {
			t.Fatalf("a valid point does not marshal: %v", err)
		}
		var p2 Point
		if err := json.Unmarshal(out, &p2); err != nil {
			t.Fatalf("re-encoded point does not unmarshal: %v\n%s", err, out)
		}
		if err := p2.validate(); err != nil {
			t.Fatalf("re-encoded point does not validate: %v\n%s", err, out)
		}
		if !pointsEqual(&p, &p2) {
			t.Fatalf("point round trip differs:\n%+v\n%+v", p, p2)
		}
		if out2, _ := json.Marshal(&p2); !bytes.Equal(out2, out) {
			t.Fatalf("point encoding is not a fixed point:\n%s\n%s", out, out2)
		}
	})
}

// pointsEqual compares points, times by instant (locations may be distinct but equal zones).
func pointsEqual(a, b *Point) bool {
	if !a.Time.Equal(b.Time) || !a.Committed.Equal(b.Committed) {
		return false
	}
	a2, b2 := *a, *b
	a2.Time, a2.Committed, b2.Time, b2.Committed = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a2, b2)
}

func FuzzPackTail(f *testing.F) {
	keys, c := fuzzCrypto(f)
	f.Add([]byte{})
	f.Add(sealPackTail(keys, nil, nil))
	f.Add(samplePack(keys, c))
	f.Fuzz(func(t *testing.T, pack []byte) {
		entries, err := readPackHeader(keys, pack)
		if err != nil {
			checkDecodeErr(t, "readPackHeader", err)
			return
		}
		hl := uint64(binary.LittleEndian.Uint32(pack[len(pack)-4:]))
		dataLen := uint64(len(pack)) - 4 - hl
		checkPackEntries(t, entries, dataLen)
		for _, e := range entries {
			stored := pack[e.Offset : e.Offset+e.Length]
			if _, err := c.open(nil, e.ID, stored, int(e.RawLength)); err != nil {
				checkDecodeErr(t, "codec.open of a pack's blob", err)
			}
		}
		resealed := sealPackTail(keys, append([]byte(nil), pack[:dataLen]...), entries)
		e2, err := readPackHeader(keys, resealed)
		if err != nil {
			t.Fatalf("resealed pack does not read: %v", err)
		}
		if !slices.Equal(e2, entries) {
			t.Fatalf("pack header round trip differs")
		}
	})
}

func FuzzBlob(f *testing.F) {
	keys, c := fuzzCrypto(f)
	for _, plain := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("osr "), 1024)} {
		id := keys.Hash(plain)
		f.Add(id[:], c.seal(nil, id, plain, true), uint32(len(plain)))
	}
	f.Fuzz(func(t *testing.T, idb, stored []byte, rawLen uint32) {
		var id ID
		copy(id[:], idb)
		plain, err := c.open(nil, id, stored, int(rawLen))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("codec.open: error does not wrap ErrCorrupt: %v", err)
			}
			if !strings.Contains(err.Error(), "blob "+id.Short()) {
				t.Fatalf("codec.open: error does not name the blob %s: %v", id.Short(), err)
			}
			return
		}
		if len(plain) != int(rawLen) {
			t.Fatalf("codec.open returned %d bytes, asked for %d", len(plain), rawLen)
		}
		plain = bytes.Clone(plain)
		prefixed, err := c.open([]byte("prefix"), id, stored, int(rawLen))
		if err != nil || string(prefixed[:6]) != "prefix" || !bytes.Equal(prefixed[6:], plain) {
			t.Fatalf("codec.open does not append to dst: %v", err)
		}
		for _, compress := range []bool{false, true} {
			s := c.seal(nil, id, plain, compress)
			p2, err := c.open(nil, id, s, len(plain))
			if err != nil || !bytes.Equal(p2, plain) {
				t.Fatalf("blob round trip (compress %v) differs: %v", compress, err)
			}
		}
		s2p := append([]byte{modeS2}, s2.Encode(nil, plain)...)
		if p2, err := c.open(nil, id, keys.Seal(nil, s2p, id[:]), len(plain)); err != nil || !bytes.Equal(p2, plain) {
			t.Fatalf("blob round trip (s2) differs: %v", err)
		}
	})
}

// ---- sample values from the real encoders ----

func seqID(seed byte) ID {
	var id ID
	for i := range id {
		id[i] = seed + byte(i)*7
	}
	return id
}

func sampleEntries() []packEntry {
	return []packEntry{
		{Type: DataBlob, ID: seqID(1), Offset: 0, Length: 4096 + crypto.Overhead + 1, RawLength: 4096},
		{Type: DataBlob, ID: seqID(2), Offset: 4096 + crypto.Overhead + 1, Length: 100, RawLength: 131072},
		{Type: TreeBlob, ID: seqID(3), Offset: 4096 + crypto.Overhead + 101, Length: crypto.Overhead + 1, RawLength: 0},
	}
}

func entriesLen(es []packEntry) uint64 {
	var n uint64
	for _, e := range es {
		n += uint64(e.Length)
	}
	return n
}

func sampleIndex() *indexFile {
	return &indexFile{
		Supersedes: []ID{seqID(9), seqID(10)},
		Packs: []indexPack{
			{ID: seqID(11), Blobs: sampleEntries()},
			{ID: seqID(12), Blobs: []packEntry{{Type: TreeBlob, ID: seqID(13), Offset: 1 << 31, Length: 1<<32 - 1, RawLength: 4 * maxBlobBytes}}},
			{ID: seqID(14)},
		},
	}
}

func sampleLeaves() []*leaf {
	fp := func(i int) fingerprint { return fingerprintOf(bytes.Repeat([]byte{byte(i)}, BlockSize)) }
	var out []*leaf
	// A full leaf of the current geometry: one extent.
	l := &leaf{span: LeafBlocks}
	for i := 0; i < LeafBlocks; i++ {
		l.present |= 1 << i
		l.fp[i] = fp(i)
		l.ref[i] = blockRef{blob: seqID(20), off: uint16(i)}
	}
	out = append(out, l)
	// The largest leaf, fragmented: several blobs, gaps, blob offsets that break runs.
	l = &leaf{span: maxLeafBlocks}
	for i := 0; i < maxLeafBlocks; i++ {
		if i%5 == 3 {
			continue
		}
		l.present |= 1 << i
		l.fp[i] = fp(i)
		l.ref[i] = blockRef{blob: seqID(byte(30 + i/16)), off: uint16(i * 3 % 40)}
	}
	l.present |= 1 << 63
	l.fp[63] = fp(63)
	l.ref[63] = blockRef{blob: seqID(40), off: 65535}
	out = append(out, l)
	// One block; a span that is not a multiple of 8; an empty leaf.
	l = &leaf{span: 1, present: 1}
	l.fp[0], l.ref[0] = fp(7), blockRef{blob: seqID(41), off: 9}
	out = append(out, l)
	l = &leaf{span: 13}
	for _, i := range []int{0, 5, 6, 12} {
		l.present |= 1 << i
		l.fp[i], l.ref[i] = fp(i), blockRef{blob: seqID(42), off: uint16(i)}
	}
	out = append(out, l, &leaf{span: LeafBlocks})
	return out
}

func sampleInteriors() []*interior {
	var out []*interior
	n := newInterior(Fanout)
	n.children[0], n.children[1], n.children[63] = seqID(50), seqID(51), seqID(52)
	out = append(out, n)
	n = newInterior(maxFanout)
	for i := range n.children {
		n.children[i] = seqID(byte(i))
		n.children[i][31] = 0xff // never the zero ID
	}
	out = append(out, n)
	n = newInterior(2)
	n.children[1] = seqID(53)
	out = append(out, n)
	n = newInterior(13)
	n.children[12] = seqID(54)
	out = append(out, n, newInterior(Fanout))
	return out
}

func samplePoint() *Point {
	t0 := time.Date(2026, 11, 28, 16, 0, 0, 123456789, time.UTC)
	return &Point{
		Version: 1, ID: seqID(60).String(), Machine: "web-01", Time: t0, Consistency: AppConsistent,
		Parent: seqID(61).String(), Hostname: "vault-1", Committed: t0.Add(3 * time.Second),
		Disks: []DiskPoint{
			{Name: "sda", Size: 10<<30 + 517, BlockSize: BlockSize, LeafBlocks: LeafBlocks, Fanout: Fanout, Root: seqID(62).String()},
			{Name: "sdb", Size: 1 << 20, BlockSize: BlockSize, LeafBlocks: LeafBlocks, Fanout: Fanout},
		},
		Stats: PointStats{BlocksWritten: 3, DataBlobs: 2, TreeBlobs: 4, DataBytes: 9000, TreeBytes: 700, Packs: 2},
	}
}

func samplePointJSON() []byte {
	b, err := json.Marshal(samplePoint())
	if err != nil {
		panic(err)
	}
	return b
}

// samplePack builds a whole pack with the real codec and pack tail.
func samplePack(keys *crypto.Keys, c *codec) []byte {
	var data []byte
	var entries []packEntry
	for i, plain := range [][]byte{bytes.Repeat([]byte("ab"), 2048), []byte("tiny"), encodeLeaf(sampleLeaves()[2])} {
		typ := DataBlob
		if i == 2 {
			typ = TreeBlob
		}
		id := keys.Hash(plain)
		off := len(data)
		data = c.seal(data, id, plain, true)
		entries = append(entries, packEntry{Type: typ, ID: id, Offset: uint32(off), Length: uint32(len(data) - off), RawLength: uint32(len(plain))})
	}
	return sealPackTail(keys, data, entries)
}

// ---- seed corpus files ----

// fuzzTargets lists every fuzz target of this package and the minimum number of committed seeds.
var fuzzTargets = []string{"FuzzPackHeader", "FuzzIndex", "FuzzLeaf", "FuzzInterior", "FuzzDecodeNode", "FuzzPoint", "FuzzPackTail", "FuzzBlob"}

// TestFuzzSeedsCommitted makes sure the seed corpora are there, so that a plain go test runs them.
func TestFuzzSeedsCommitted(t *testing.T) {
	for _, name := range fuzzTargets {
		files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", name, "seed-*"))
		if len(files) < 5 {
			t.Errorf("%s has %d committed seeds; regenerate them with -update-fuzz-seeds", name, len(files))
		}
	}
}

// seedWriter collects seed files per target.
type seedWriter struct {
	files map[string]map[string][]byte // target → file name → content
}

func (w *seedWriter) add(target, name string, args ...any) {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case uint64:
			fmt.Fprintf(&b, "uint64(%d)\n", v)
		case uint32:
			fmt.Fprintf(&b, "uint32(%d)\n", v)
		default:
			panic(fmt.Sprintf("seed argument of type %T", a))
		}
	}
	if w.files[target] == nil {
		w.files[target] = map[string][]byte{}
	}
	name = "seed-" + name
	if _, dup := w.files[target][name]; dup {
		panic("duplicate seed " + target + "/" + name)
	}
	w.files[target][name] = []byte(b.String())
}

// addBytes adds b and damaged variants of it (truncated, one byte flipped) to a one-argument target.
func (w *seedWriter) addBytes(target, name string, b []byte, variants bool) {
	w.add(target, name, b)
	if !variants || len(b) < 2 {
		return
	}
	w.add(target, name+"-trunc-half", b[:len(b)/2])
	w.add(target, name+"-trunc-1", b[:len(b)-1])
	flipped := bytes.Clone(b)
	flipped[len(b)/3] ^= 0x40
	w.add(target, name+"-flip", flipped)
}

func (w *seedWriter) write(t *testing.T) {
	for _, target := range fuzzTargets {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
		names := make([]string, 0, len(w.files[target]))
		for name := range w.files[target] {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if err := os.WriteFile(filepath.Join(dir, name), w.files[target][name], 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%s: %d seeds", target, len(names))
	}
}

// seedImage is small, spans four leaves (so the tree has an interior root) and mixes random,
// compressible, repeated and zero blocks, and a partial last block.
func seedImage(seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	img := make([]byte, 3*LeafBlocks*BlockSize+5000)
	fill := func(blk int, kind int) {
		b := img[blk*BlockSize : min((blk+1)*BlockSize, len(img))]
		for i := range b {
			switch kind {
			case 0:
				b[i] = byte(rng.IntN(256))
			case 1:
				b[i] = "abcd"[rng.IntN(4)]
			default:
				b[i] = byte(kind)
			}
		}
	}
	fill(0, 0)
	fill(1, 1)
	fill(2, 7)
	fill(LeafBlocks+3, 1)
	fill(2*LeafBlocks+31, 9)
	fill(3*LeafBlocks+1, 1)
	return img
}

// TestUpdateFuzzSeeds regenerates the seed corpora; it runs only with -update-fuzz-seeds.
func TestUpdateFuzzSeeds(t *testing.T) {
	if !*updateFuzzSeeds {
		t.Skip("run with -update-fuzz-seeds to regenerate testdata/fuzz/*/seed-*")
	}
	keys, c := fuzzCrypto(t)
	w := &seedWriter{files: map[string]map[string][]byte{}}

	// A real store under the fixed key: two points of one machine, the second incremental, with a
	// second all-zero disk.
	dir := filepath.Join(t.TempDir(), "repo")
	opts := testOptions()
	opts.fill()
	r, err := newRepo(newFileBackend(t, dir), fuzzMasterKey, opts)
	if err != nil {
		t.Fatal(err)
	}
	img := seedImage(1)
	pt1 := putImage(t, r, "m", nil, map[string][]byte{"sda": img})
	copy(img[LeafBlocks*BlockSize+3*BlockSize:], seedImage(2)[:BlockSize])
	putImage(t, r, "m", pt1, map[string][]byte{"sda": img, "sdb": make([]byte, 1<<20)})

	var packs, indexes, points []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case strings.HasPrefix(rel, "data/"):
			packs = append(packs, p)
		case strings.HasPrefix(rel, "index/"):
			indexes = append(indexes, p)
		case strings.HasPrefix(rel, "points/"):
			points = append(points, p)
		}
		return nil
	})
	sort.Strings(packs)
	sort.Strings(indexes)
	sort.Strings(points)
	if len(packs) != 4 || len(indexes) != 2 || len(points) != 2 {
		t.Fatalf("expected 4 packs, 2 index objects, 2 points; got %d, %d, %d", len(packs), len(indexes), len(points))
	}
	nLeaves, nInteriors, nData := 0, 0, 0
	for _, p := range packs {
		pack, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := readPackHeader(keys, pack)
		if err != nil {
			t.Fatal(err)
		}
		kind := "data"
		if entries[0].Type == TreeBlob {
			kind = "tree"
		}
		name := fmt.Sprintf("store-%s-%s", kind, filepath.Base(p)[:8])
		w.addBytes("FuzzPackTail", name, pack, true)
		hl := uint64(binary.LittleEndian.Uint32(pack[len(pack)-4:]))
		dataLen := uint64(len(pack)) - 4 - hl
		hdr, err := keys.Open(nil, pack[dataLen:len(pack)-4], []byte(packHeaderAD))
		if err != nil {
			t.Fatal(err)
		}
		w.add("FuzzPackHeader", name, hdr, dataLen)
		w.add("FuzzPackHeader", name+"-datalen-1", hdr, dataLen-1)
		w.add("FuzzPackHeader", name+"-trunc", hdr[:len(hdr)-3], dataLen)
		for _, e := range entries {
			stored := pack[e.Offset : e.Offset+e.Length]
			plain, err := c.open(nil, e.ID, stored, int(e.RawLength))
			if err != nil {
				t.Fatal(err)
			}
			if e.Type == DataBlob {
				if nData < 4 {
					w.add("FuzzBlob", fmt.Sprintf("store-data-%d", nData), e.ID[:], stored, e.RawLength)
				}
				nData++
				continue
			}
			n, err := decodeNode(plain)
			if err != nil {
				t.Fatal(err)
			}
			switch n.(type) {
			case *leaf:
				w.addBytes("FuzzLeaf", fmt.Sprintf("store-%d", nLeaves), plain, nLeaves == 0)
				w.addBytes("FuzzDecodeNode", fmt.Sprintf("store-leaf-%d", nLeaves), plain, nLeaves == 0)
				if nLeaves == 0 {
					w.add("FuzzBlob", "store-tree-leaf", e.ID[:], stored, e.RawLength)
				}
				nLeaves++
			case *interior:
				w.addBytes("FuzzInterior", fmt.Sprintf("store-%d", nInteriors), plain, nInteriors == 0)
				w.addBytes("FuzzDecodeNode", fmt.Sprintf("store-interior-%d", nInteriors), plain, nInteriors == 0)
				nInteriors++
			}
		}
	}
	for i, p := range indexes {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := keys.Open(nil, b, []byte(indexAD))
		if err != nil {
			t.Fatal(err)
		}
		w.addBytes("FuzzIndex", fmt.Sprintf("store-%d", i), plain, i == 0)
	}
	for i, p := range points {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := keys.Open(nil, b, []byte(pointAD))
		if err != nil {
			t.Fatal(err)
		}
		w.addBytes("FuzzPoint", fmt.Sprintf("store-%d", i), plain, i == 0)
	}

	// Synthetic values from the real encoders, and hand-made damaged or non-canonical ones.
	for i, l := range sampleLeaves() {
		w.addBytes("FuzzLeaf", fmt.Sprintf("sample-%d", i), encodeLeaf(l), false)
		w.addBytes("FuzzDecodeNode", fmt.Sprintf("sample-leaf-%d", i), encodeLeaf(l), false)
	}
	for i, n := range sampleInteriors() {
		w.addBytes("FuzzInterior", fmt.Sprintf("sample-%d", i), encodeInterior(n), false)
		w.addBytes("FuzzDecodeNode", fmt.Sprintf("sample-interior-%d", i), encodeInterior(n), false)
	}
	fpA := fingerprintOf(make([]byte, BlockSize))
	blob := seqID(70)
	// Two mergeable extents (accepted, non-canonical) and a non-minimal span varint.
	split := append([]byte{'L', 2, 3}, fpA[:]...)
	split = append(split, fpA[:]...)
	split = append(split, 2, 0, 1, 0)
	split = append(append(split, blob[:]...), 1, 1, 1)
	split = append(split, blob[:]...)
	w.add("FuzzLeaf", "noncanonical-split-extents", split)
	long := append([]byte{'L', 0x81, 0x00, 1}, fpA[:]...)
	long = append(append(long, 1, 0, 1, 0), blob[:]...)
	w.add("FuzzLeaf", "noncanonical-long-varint", long)
	w.add("FuzzDecodeNode", "noncanonical-long-varint", long)
	// An extent whose start+count overflows uint64 and an offset that overflows (must be refused).
	ovf := append([]byte{'L', 2, 3}, fpA[:]...)
	ovf = append(ovf, fpA[:]...)
	ovf = append(ovf, 1)
	ovf = binary.AppendUvarint(ovf, 1<<64-1)
	ovf = append(append(ovf, 3, 0), blob[:]...)
	w.add("FuzzLeaf", "overflow-extent-start", ovf)
	ovf2 := append([]byte{'L', 1, 1}, fpA[:]...)
	ovf2 = append(ovf2, 1, 0, 1)
	ovf2 = binary.AppendUvarint(ovf2, 1<<64-1)
	ovf2 = append(ovf2, blob[:]...)
	w.add("FuzzLeaf", "overflow-extent-offset", ovf2)
	w.add("FuzzLeaf", "garbage", []byte("L\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))
	w.add("FuzzLeaf", "empty", []byte{})
	w.add("FuzzInterior", "bits-beyond-fanout", []byte{'I', 3, 0x0c})
	w.add("FuzzInterior", "zero-child", append([]byte{'I', 2, 1}, make([]byte, 32)...))
	w.add("FuzzInterior", "noncanonical-long-varint", append([]byte{'I', 0x82, 0x00, 2}, blob[:]...))
	w.add("FuzzInterior", "fanout-257", []byte{'I', 0x81, 0x02})
	w.add("FuzzDecodeNode", "unknown-type", []byte("X123"))
	w.add("FuzzDecodeNode", "empty", []byte{})

	es := sampleEntries()
	w.add("FuzzPackHeader", "sample", encodePackHeader(es), entriesLen(es))
	w.add("FuzzPackHeader", "empty-pack", encodePackHeader(nil), uint64(0))
	w.add("FuzzPackHeader", "version-2", append([]byte("OSRP\x02"), encodePackHeader(es)[5:]...), entriesLen(es))
	w.add("FuzzPackHeader", "bad-magic", []byte("OSRX\x01\x00"), uint64(0))
	w.add("FuzzPackHeader", "too-many-entries", []byte("OSRP\x01\xff\xff\xff\xff\x0f"), uint64(1<<40))
	// A length that wraps around uint64 so that offset+length passes a naive bound "off+l > dataLen":
	// 50 bytes, then 2^64-40 bytes (offset wraps to 10), then 90 bytes end at 100 (must be refused).
	wrap := []byte("OSRP\x01\x03")
	wrap = append(append(wrap, 0), blob[:]...)
	wrap = append(wrap, 50, 0)
	wrap = append(append(wrap, 0), seqID(71).String()[:32]...)
	wrap = binary.AppendUvarint(wrap, 1<<64-40)
	wrap = append(wrap, 0)
	wrap = append(append(wrap, 1), seqID(73).String()[:32]...)
	wrap = append(wrap, 90, 0)
	w.add("FuzzPackHeader", "overflow-length", wrap, uint64(100))

	w.add("FuzzIndex", "sample", encodeIndex(sampleIndex()))
	w.add("FuzzIndex", "empty", encodeIndex(&indexFile{}))
	w.add("FuzzIndex", "version-9", []byte("OSRI\x09\x00\x00"))
	w.add("FuzzIndex", "huge-counts", []byte("OSRI\x01\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))
	w.add("FuzzIndex", "garbage", []byte("not an index"))

	pj := samplePointJSON()
	w.add("FuzzPoint", "sample", pj)
	indented, _ := json.MarshalIndent(samplePoint(), "", "  ")
	w.add("FuzzPoint", "sample-indented", indented)
	for name, edit := range map[string]func(p *Point){
		"version-2":      func(p *Point) { p.Version = 2 },
		"no-disks":       func(p *Point) { p.Disks = nil },
		"repeated-disk":  func(p *Point) { p.Disks[1].Name = "sda" },
		"bad-root":       func(p *Point) { p.Disks[0].Root = "xyz" },
		"bad-block-size": func(p *Point) { p.Disks[0].BlockSize = 512 },
		"huge-disk":      func(p *Point) { p.Disks[0].Size = 1 << 56 },
		"zone-offset":    func(p *Point) { p.Time = p.Time.In(time.FixedZone("", -7*3600)) },
	} {
		p := samplePoint()
		edit(p)
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		w.add("FuzzPoint", name, b)
	}
	w.add("FuzzPoint", "garbage", []byte(`{"version":1,"disks":[{"name":`))
	w.add("FuzzPoint", "not-an-object", []byte(`[1,2,3]`))

	w.addBytes("FuzzPackTail", "sample", samplePack(keys, c), false)
	w.add("FuzzPackTail", "no-blobs", sealPackTail(keys, nil, nil))
	w.add("FuzzPackTail", "short", []byte{1, 2, 3})
	w.add("FuzzPackTail", "header-length-too-big", []byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f})
	sealedHeader := func(data, hdr []byte) []byte {
		start := len(data)
		b := keys.Seal(bytes.Clone(data), hdr, []byte(packHeaderAD))
		return binary.LittleEndian.AppendUint32(b, uint32(len(b)-start))
	}
	w.add("FuzzPackTail", "authentic-bad-magic", sealedHeader(nil, []byte("XXXX\x01\x00")))
	w.add("FuzzPackTail", "authentic-version-2", sealedHeader(nil, []byte("OSRP\x02\x00")))
	w.add("FuzzPackTail", "authentic-gap", sealedHeader(make([]byte, 50), encodePackHeader(nil)))
	w.add("FuzzPackTail", "authentic-wrapping-length", sealedHeader(make([]byte, 100), wrap))

	for i, plain := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("osr "), 1024), seedImage(3)[:BlockSize]} {
		id := keys.Hash(plain)
		w.add("FuzzBlob", fmt.Sprintf("sample-%d", i), id[:], c.seal(nil, id, plain, true), uint32(len(plain)))
	}
	plain := bytes.Repeat([]byte("compressible "), 300)
	id := keys.Hash(plain)
	stored := c.seal(nil, id, plain, true)
	w.add("FuzzBlob", "wrong-raw-length", id[:], stored, uint32(len(plain)+1))
	w.add("FuzzBlob", "wrong-id", []byte(seqID(72).String()[:32]), stored, uint32(len(plain)))
	w.add("FuzzBlob", "truncated", id[:], stored[:len(stored)-1], uint32(len(plain)))
	w.add("FuzzBlob", "shorter-than-overhead", id[:], stored[:20], uint32(len(plain)))
	// Authentic payloads that are malformed: only a seed can reach these paths.
	w.add("FuzzBlob", "authentic-empty-payload", id[:], keys.Seal(nil, nil, id[:]), uint32(0))
	w.add("FuzzBlob", "authentic-unknown-mode", id[:], keys.Seal(nil, []byte{7, 1, 2, 3}, id[:]), uint32(3))
	w.add("FuzzBlob", "authentic-bad-zstd", id[:], keys.Seal(nil, []byte{modeZstd, 0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3}, id[:]), uint32(3))
	w.add("FuzzBlob", "authentic-zstd-huge-rawlen", id[:], keys.Seal(nil, []byte{modeZstd}, id[:]), uint32(1<<30))
	zs := c.enc.EncodeAll(plain, []byte{modeZstd})
	w.add("FuzzBlob", "authentic-zstd-short", id[:], keys.Seal(nil, zs, id[:]), uint32(len(plain)+5))
	// S2 payloads (mode 2): a good one, a wrong length, a truncated block, a huge raw length.
	ss := append([]byte{modeS2}, s2.Encode(nil, plain)...)
	w.add("FuzzBlob", "authentic-s2", id[:], keys.Seal(nil, ss, id[:]), uint32(len(plain)))
	w.add("FuzzBlob", "authentic-s2-short", id[:], keys.Seal(nil, ss, id[:]), uint32(len(plain)+5))
	w.add("FuzzBlob", "authentic-s2-truncated", id[:], keys.Seal(nil, ss[:len(ss)-4], id[:]), uint32(len(plain)))
	w.add("FuzzBlob", "authentic-s2-huge-rawlen", id[:], keys.Seal(nil, []byte{modeS2, 0x80, 0x80, 0x80, 0x80, 0x04}, id[:]), uint32(1<<30))

	w.write(t)
}
