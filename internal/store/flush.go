package store

import (
	"bytes"
	"fmt"
	"math/bits"

	"github.com/zeebo/xxh3"
)

func fingerprintOf(b []byte) fingerprint {
	h := xxh3.Hash128(b).Bytes()
	return fingerprint(h)
}

// flushLeaf merges blocks (nil entries: unchanged) into the leaf and stores what changed. owned,
// when not nil, is the whole leaf's data that blocks slice, private to the caller: runs of
// changed blocks are stored from it as they are, without the copy and second fingerprint that
// guard against a source changing under us. Caller holds ls.mu.
func (dw *DiskWriter) flushLeaf(li int64, ls *leafState, blocks *[maxLeafBlocks][]byte, owned []byte) error {
	cur, err := dw.currentLeaf(li, ls)
	if err != nil {
		return fmt.Errorf("leaf %d: %w", li, err)
	}
	nl := leaf{span: dw.g.leafBlocks}
	if cur != nil {
		nl = *cur
	}
	var changed uint64
	removed := false
	for i := 0; i < dw.g.leafBlocks; i++ {
		b := blocks[i]
		if b == nil {
			continue
		}
		if bytes.Equal(b, zeroBlock) {
			if nl.has(i) {
				nl.present &^= 1 << uint(i)
				nl.ref[i] = blockRef{}
				nl.fp[i] = fingerprint{}
				removed = true
			}
			continue
		}
		fp := fingerprintOf(b)
		if nl.has(i) && nl.fp[i] == fp {
			continue
		}
		nl.fp[i] = fp
		nl.present |= 1 << uint(i)
		changed |= 1 << uint(i)
	}
	if changed == 0 && !removed {
		return nil
	}
	bp := runBufs.Get().(*[]byte)
	defer runBufs.Put(bp)
	run := *bp
	for i := 0; i < dw.g.leafBlocks; {
		if changed&(1<<uint(i)) == 0 {
			i++
			continue
		}
		// The blocks are copied before they are fingerprinted again and hashed: a source that
		// changes under us (a mapped live disk) must not make a blob differ from its ID or its
		// fingerprints.
		j := i
		for j < dw.g.leafBlocks && changed&(1<<uint(j)) != 0 {
			j++
		}
		var data []byte
		if (j)*BlockSize <= len(owned) {
			data = owned[i*BlockSize : j*BlockSize] // fingerprinted above, from this very memory
		} else {
			run = run[:0]
			for k := i; k < j; k++ {
				run = append(run, blocks[k]...)
				nl.fp[k] = fingerprintOf(run[len(run)-BlockSize:])
			}
			data = run
		}
		id := dw.w.r.keys.Hash(data)
		if _, err := dw.w.p.add(id, DataBlob, data); err != nil {
			*bp = run[:0]
			return err
		}
		for k := i; k < j; k++ {
			nl.ref[k] = blockRef{blob: id, off: uint16(k - i)}
		}
		i = j
	}
	*bp = run[:0]
	dw.w.written.Add(int64(bits.OnesCount64(changed)))
	var newID ID
	if !nl.empty() {
		enc := encodeLeaf(&nl)
		newID = dw.w.r.keys.Hash(enc)
		if _, err := dw.w.p.add(newID, TreeBlob, enc); err != nil {
			return err
		}
		dw.w.r.nodes.put(newID, &nl)
	}
	ls.flushed, ls.changed, ls.id = true, true, newID
	return nil
}
