package store

import (
	"fmt"
	"sync"

	"github.com/opensiterecovery/osr/internal/crypto"
)

// An index object lists, for some packs, the blobs each holds. Its plaintext is
//
//	"OSRI" version(1) uvarint(nSupersedes) ID... packs condemned
//	packs, condemned = uvarint(n) { packID uvarint(nBlobs) { type ID uvarint(offset) uvarint(length) uvarint(rawLength) }... }...
//
// sealed with the associated data "osr index v1". Supersedes names index objects that this one
// replaces (written by prune), so a reader that sees both uses only the new one. Condemned packs
// hold only blobs no point used when a prune decided; their blobs can still be read (by a point a
// writer of that time commits later) but are never used for deduplication, so no new point comes to
// depend on them before a later prune deletes them.

const (
	indexMagic = "OSRI"
	indexAD    = "osr index v1"
)

// indexFile is the decoded content of one index object.
type indexFile struct {
	Supersedes []ID
	Packs      []indexPack
	Condemned  []indexPack
}

type indexPack struct {
	ID    ID
	Blobs []packEntry
}

func encodeIndex(f *indexFile) []byte {
	b := append([]byte(indexMagic), 1)
	b = appendUvarint(b, uint64(len(f.Supersedes)))
	for _, id := range f.Supersedes {
		b = append(b, id[:]...)
	}
	b = appendPacks(b, f.Packs)
	b = appendPacks(b, f.Condemned)
	return b
}

func appendPacks(b []byte, packs []indexPack) []byte {
	b = appendUvarint(b, uint64(len(packs)))
	for _, p := range packs {
		b = append(b, p.ID[:]...)
		b = appendUvarint(b, uint64(len(p.Blobs)))
		for _, e := range p.Blobs {
			b = append(b, byte(e.Type))
			b = append(b, e.ID[:]...)
			b = appendUvarint(b, uint64(e.Offset))
			b = appendUvarint(b, uint64(e.Length))
			b = appendUvarint(b, uint64(e.RawLength))
		}
	}
	return b
}

func decodeIndex(b []byte) (*indexFile, error) {
	d := &decoder{b: b, what: "index"}
	if string(d.bytes(4)) != indexMagic {
		return nil, corruptf("index: bad magic")
	}
	if v := d.byte1(); d.err == nil && v != 1 {
		return nil, fmt.Errorf("index version %d is newer than this osr supports (1)", v)
	}
	f := &indexFile{}
	n := d.uvarint()
	if n > uint64(len(d.b))/crypto.IDSize {
		return nil, corruptf("index: %d superseded ids cannot fit", n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		f.Supersedes = append(f.Supersedes, d.id())
	}
	f.Packs = decodePacks(d)
	f.Condemned = decodePacks(d)
	if err := d.done(); err != nil {
		return nil, err
	}
	return f, nil
}

func decodePacks(d *decoder) []indexPack {
	var packs []indexPack
	np := d.uvarint()
	if np > uint64(len(d.b))/(crypto.IDSize+1) {
		d.fail(fmt.Sprintf("%d packs cannot fit", np))
		return nil
	}
	for i := uint64(0); i < np && d.err == nil; i++ {
		p := indexPack{ID: d.id()}
		nb := d.uvarint()
		if nb > uint64(len(d.b))/(crypto.IDSize+4) {
			d.fail("blob count cannot fit")
			break
		}
		p.Blobs = make([]packEntry, 0, nb)
		for j := uint64(0); j < nb && d.err == nil; j++ {
			t := BlobType(d.byte1())
			id := d.id()
			off, l, raw := d.uvarint(), d.uvarint(), d.uvarint()
			if (t != DataBlob && t != TreeBlob) || off > 1<<32-1 || l > 1<<32-1 || raw > 4*maxBlobBytes || l < crypto.Overhead+1 {
				d.fail("blob entry out of range")
				break
			}
			p.Blobs = append(p.Blobs, packEntry{Type: t, ID: id, Offset: uint32(off), Length: uint32(l), RawLength: uint32(raw)})
		}
		packs = append(packs, p)
	}
	return packs
}

// blobLoc says where a blob is stored.
type blobLoc struct {
	Pack      ID
	Type      BlobType
	Offset    uint32
	Length    uint32
	RawLength uint32
}

type indexEntry struct {
	condemned bool
	pack      uint32
	typ       BlobType
	offset    uint32
	length    uint32
	rawLength uint32
}

// Index is the in-memory union of index objects: blob ID → location. Safe for concurrent use.
type Index struct {
	mu      sync.RWMutex
	packs   []ID
	packNum map[ID]uint32
	blobs   map[ID]indexEntry
}

func newIndex() *Index {
	return &Index{packNum: map[ID]uint32{}, blobs: map[ID]indexEntry{}}
}

// reset forgets every blob.
func (ix *Index) reset() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.packs, ix.packNum, ix.blobs = nil, map[ID]uint32{}, map[ID]indexEntry{}
}

// addPack records a pack's blobs. A blob already known keeps its first location, unless that one
// is condemned and this one is not.
func (ix *Index) addPack(pack ID, entries []packEntry) { ix.add(pack, entries, false) }

// addCondemned records a condemned pack: readable, never used for deduplication.
func (ix *Index) addCondemned(pack ID, entries []packEntry) { ix.add(pack, entries, true) }

func (ix *Index) add(pack ID, entries []packEntry, condemned bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	pn, ok := ix.packNum[pack]
	if !ok {
		pn = uint32(len(ix.packs))
		ix.packs = append(ix.packs, pack)
		ix.packNum[pack] = pn
	}
	for _, e := range entries {
		if old, dup := ix.blobs[e.ID]; dup && (condemned || !old.condemned) {
			continue
		}
		ix.blobs[e.ID] = indexEntry{condemned: condemned, pack: pn, typ: e.Type, offset: e.Offset, length: e.Length, rawLength: e.RawLength}
	}
}

// Lookup returns where blob id is stored.
func (ix *Index) Lookup(id ID) (blobLoc, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	e, ok := ix.blobs[id]
	if !ok {
		return blobLoc{}, false
	}
	return blobLoc{Pack: ix.packs[e.pack], Type: e.typ, Offset: e.offset, Length: e.length, RawLength: e.rawLength}, true
}

// Has reports whether blob id is stored where a new point may use it (not condemned).
func (ix *Index) Has(id ID) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	e, ok := ix.blobs[id]
	return ok && !e.condemned
}

// Len returns the number of blobs.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.blobs)
}

// Each calls fn for every blob, under a read lock.
func (ix *Index) Each(fn func(id ID, loc blobLoc)) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for id, e := range ix.blobs {
		fn(id, blobLoc{Pack: ix.packs[e.pack], Type: e.typ, Offset: e.offset, Length: e.length, RawLength: e.rawLength})
	}
}

// packSet returns the packs that hold at least one indexed blob.
func (ix *Index) packSet() map[ID]bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	used := make(map[ID]bool, len(ix.packs))
	for _, e := range ix.blobs {
		used[ix.packs[e.pack]] = true
	}
	return used
}
