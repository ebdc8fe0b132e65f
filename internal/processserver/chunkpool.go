package processserver

import (
	"sync"
	"unsafe"

	"github.com/opensiterecovery/osr/internal/directio"
)

// MemoryLimit is the soft limit of the Go heap that osr process-server serve sets (unless
// GOMEMLIMIT is set). A process server holds its packs in flight (16 MiB each), the applier's
// frames and decoded tree nodes: a hundred MiB and more for one busy machine. Under the 128 MiB
// of the other commands the collector ran almost without pause, a seventh of the server's CPU in
// the pipeline bench; with no limit, 50 machines took the heap past 700 MiB.
const MemoryLimit = 512 << 20

// DefaultMemoryBytes is the default of cache.memory_bytes.
const DefaultMemoryBytes = 320 << 20

// chunkPool is the memory the spools share for chunks kept for their readers beyond their own
// spoolBuffers: at most max chunks are out at once. A nil pool has none. Safe for concurrent use.
//
// The chunks are carved from one region mapped outside the Go heap where the system allows it: a
// heap of tens of MiB of chunks going in and out would have the collector run all the time under
// the process's soft memory limit. Pages are touched only when a chunk is first used.
type chunkPool struct {
	mu     sync.Mutex
	max    int
	out    int
	region []byte   // max chunks, mapped on first use
	next   int      // chunks of region handed out so far
	idle   [][]byte // given back, for reuse
}

func newChunkPool(bytes int64) *chunkPool { return &chunkPool{max: int(bytes / spoolChunk)} }

// get returns an aligned chunk buffer, or nil when max are out.
func (p *chunkPool) get() []byte {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out >= p.max {
		return nil
	}
	p.out++
	if k := len(p.idle); k > 0 {
		b := p.idle[k-1]
		p.idle = p.idle[:k-1]
		return b
	}
	if p.region == nil {
		p.region = mapRegion(p.max * spoolChunk)
	}
	if p.region == nil { // no mapping: the heap
		return directio.AlignedBuffer(spoolChunk)
	}
	b := p.region[p.next*spoolChunk : (p.next+1)*spoolChunk : (p.next+1)*spoolChunk]
	p.next++
	return b
}

// put gives back a buffer get returned.
func (p *chunkPool) put(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out--
	if p.region != nil {
		p.idle = append(p.idle, b[:spoolChunk])
	}
}

// owns reports whether b is one of the pool's chunks. Without a mapped region the pool's chunks
// are ordinary buffers, like the spools' own: any buffer may then stand for one of them.
func (p *chunkPool) owns(b []byte) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.region == nil {
		return true
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(p.region)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return at >= start && at < start+uintptr(len(p.region))
}

// inUse reports how many chunks are out.
func (p *chunkPool) inUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out
}
