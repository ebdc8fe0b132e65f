package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/zeebo/blake3"
)

// packer collects stored blobs into packs and uploads them, a bounded number at a time. Blobs it
// holds can be read back before they are indexed, so a writer sees its own nodes.
type packer struct {
	r       *Repo
	ctx     context.Context
	sem     chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	cur     [2]*packBuf // by BlobType
	pending map[ID]pendingBlob
	done    []indexPack // uploaded, not yet in an index object
	err     error
	stats   PointStats
	indexed atomic.Int64 // packs put into index objects
	force   bool         // store blobs even when the index knows them (repack)
}

type packBuf struct {
	typ     BlobType
	data    []byte
	entries []packEntry
}

type pendingBlob struct {
	buf   *packBuf
	entry packEntry
}

// packBufs holds the data buffers of packs that are uploaded: a fresh one per pack (16 MiB,
// zeroed by the allocator) was a tenth of a process server's CPU.
var packBufs sync.Pool

// checkpointPacks is how many uploaded packs make the packer write an index object before commit,
// so that an interrupted writer's data stays known and a retry need not upload it again.
const checkpointPacks = 32

func newPacker(ctx context.Context, r *Repo) *packer {
	return &packer{r: r, ctx: ctx, sem: make(chan struct{}, r.opts.Uploads), pending: map[ID]pendingBlob{}}
}

// has reports whether blob id is stored or about to be.
func (p *packer) has(id ID) bool {
	if !p.force && p.r.index.Has(id) {
		return true
	}
	p.mu.Lock()
	_, ok := p.pending[id]
	p.mu.Unlock()
	return ok
}

// add stores blob id with plaintext plain unless it is stored already; it reports whether it added.
func (p *packer) add(id ID, typ BlobType, plain []byte) (bool, error) {
	if p.has(id) {
		return false, nil
	}
	// Tree nodes are mostly hashes and do not compress; data that looks random is not tried with
	// zstd. S2 gives up on such data by itself, about as fast as the estimate would.
	compress := typ == DataBlob && (Compression(p.r.codec.comp.Load()) == CompressS2 || compressible(plain))
	// Compressed outside the lock into a reused buffer, then sealed straight into the pack (a
	// fresh slice per blob made the garbage collector a large share of a writer's CPU).
	bp, payload := p.r.codec.payload(plain, compress)
	defer p.r.codec.release(bp, payload)
	p.mu.Lock()
	if p.err != nil {
		err := p.err
		p.mu.Unlock()
		return false, err
	}
	if _, ok := p.pending[id]; ok || (!p.force && p.r.index.Has(id)) {
		p.mu.Unlock()
		return false, nil
	}
	buf := p.cur[typ]
	if buf == nil {
		buf = &packBuf{typ: typ, data: p.newPackData()}
		p.cur[typ] = buf
	}
	off := len(buf.data)
	buf.data = p.r.codec.sealPayload(buf.data, id, payload)
	stored := buf.data[off:]
	e := packEntry{Type: typ, ID: id, Offset: uint32(off), Length: uint32(len(stored)), RawLength: uint32(len(plain))}
	buf.entries = append(buf.entries, e)
	p.pending[id] = pendingBlob{buf: buf, entry: e}
	if typ == DataBlob {
		p.stats.DataBlobs++
		p.stats.DataBytes += int64(len(stored))
	} else {
		p.stats.TreeBlobs++
		p.stats.TreeBytes += int64(len(stored))
	}
	full := len(buf.data) >= p.r.opts.PackSize
	if full {
		p.cur[typ] = nil
	}
	p.mu.Unlock()
	if full {
		p.upload(buf)
	}
	return true, nil
}

// packCap is the capacity of a pack's buffer: room for the last blob and the header, so that
// sealing does not grow it.
func (p *packer) packCap() int {
	return p.r.opts.PackSize + maxBlobBytes + p.r.opts.PackSize/BlockSize*64 + 4096
}

func (p *packer) newPackData() []byte {
	if b, ok := packBufs.Get().(*[]byte); ok && cap(*b) >= p.packCap() {
		return (*b)[:0]
	}
	return make([]byte, 0, p.packCap())
}

// read returns the plaintext of a blob this packer holds and has not indexed yet.
func (p *packer) read(id ID) ([]byte, bool, error) {
	p.mu.Lock()
	pb, ok := p.pending[id]
	var stored []byte
	if ok { // a copy: once the pack is uploaded its buffer serves another
		stored = append([]byte(nil), pb.buf.data[pb.entry.Offset:pb.entry.Offset+pb.entry.Length]...)
	}
	p.mu.Unlock()
	if !ok {
		return nil, false, nil
	}
	plain, err := p.r.codec.open(nil, id, stored, int(pb.entry.RawLength))
	return plain, true, err
}

func (p *packer) upload(buf *packBuf) {
	select {
	case p.sem <- struct{}{}:
	case <-p.ctx.Done():
		p.fail(p.ctx.Err())
		return
	}
	p.wg.Add(1)
	go func() {
		defer func() { <-p.sem; p.wg.Done() }()
		data := sealPackTail(p.r.keys, buf.data, buf.entries)
		id := ID(blake3.Sum256(data))
		if err := putBytes(p.ctx, p.r.be, packName(id), data); err != nil {
			p.fail(fmt.Errorf("upload pack %s: %w", id.Short(), err))
			return
		}
		p.r.index.addPack(id, buf.entries)
		p.mu.Lock()
		for _, e := range buf.entries {
			delete(p.pending, e.ID)
		}
		p.done = append(p.done, indexPack{ID: id, Blobs: buf.entries})
		p.stats.Packs++
		var batch []indexPack
		if len(p.done) >= checkpointPacks {
			batch, p.done = p.done, nil
		}
		// Nothing refers to the buffer any more: the backend is done with it, and pending entries
		// (which read copies under the lock) are gone.
		if cap(data) >= p.packCap() {
			d := data[:0]
			buf.data = nil
			packBufs.Put(&d)
		}
		p.mu.Unlock()
		if batch != nil {
			if _, err := p.r.writeIndex(p.ctx, &indexFile{Packs: batch}); err != nil {
				p.fail(err)
				return
			}
			p.indexed.Add(int64(len(batch)))
		}
	}()
}

func (p *packer) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
}

// flush uploads the open packs, waits for every upload and writes an index object for the packs
// not indexed yet. After it returns nil, every blob added is durable and indexed.
func (p *packer) flush() error {
	p.mu.Lock()
	bufs := []*packBuf{}
	for t, b := range p.cur {
		if b != nil && len(b.entries) > 0 {
			bufs = append(bufs, b)
		}
		p.cur[t] = nil
	}
	p.mu.Unlock()
	for _, b := range bufs {
		p.upload(b)
	}
	p.wg.Wait()
	p.mu.Lock()
	err, batch := p.err, p.done
	p.done = nil
	p.mu.Unlock()
	if err != nil {
		return err
	}
	if len(batch) > 0 {
		if _, err := p.r.writeIndex(p.ctx, &indexFile{Packs: batch}); err != nil {
			return err
		}
		p.indexed.Add(int64(len(batch)))
	}
	return nil
}

// wait waits for uploads in flight, for abort.
func (p *packer) wait() { p.wg.Wait() }
