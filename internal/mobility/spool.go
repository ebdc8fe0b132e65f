package mobility

import (
	"context"
	"fmt"
	"os"

	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// spool keeps the blocks captured under a freeze until the thaw: in memory up to a bound, then
// in a file in the state directory (when that directory is not on a frozen filesystem).
type spool struct {
	limit   int
	memLen  int      // bytes held in memory
	mem     [][]byte // one exact allocation per run: no doubling, no copies on growth
	f       *os.File // nil: no spilling allowed
	fileLen int64
	entries []spoolEntry
}

type spoolEntry struct {
	disk   string
	first  int64
	n      int64 // blocks
	zero   bool
	inFile bool
	off    int64 // in mem or in the file
	fps    []tracker.Fingerprint
}

// errSpoolFull: the frozen pass captured more than the memory bound and cannot spill.
var errSpoolFull = fmt.Errorf("the blocks changed under the freeze exceed the memory buffer and the spool file would be on a frozen filesystem")

func newSpool(limit int, dir string, canSpill bool) (*spool, error) {
	sp := &spool{limit: limit}
	if canSpill {
		f, err := os.CreateTemp(dir, "spool-*")
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		os.Remove(f.Name()) // anonymous: gone with the process
		sp.f = f
	}
	return sp, nil
}

func (sp *spool) addBlocks(disk string, first int64, data []byte, fps []tracker.Fingerprint) error {
	e := spoolEntry{disk: disk, first: first, n: int64(len(fps)), fps: append([]tracker.Fingerprint(nil), fps...)}
	if sp.memLen+len(data) <= sp.limit {
		e.off = int64(len(sp.mem))
		sp.mem = append(sp.mem, append([]byte(nil), data...))
		sp.memLen += len(data)
	} else {
		if sp.f == nil {
			return errSpoolFull
		}
		if _, err := sp.f.WriteAt(data, sp.fileLen); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		e.inFile, e.off = true, sp.fileLen
		sp.fileLen += int64(len(data))
	}
	sp.entries = append(sp.entries, e)
	return nil
}

func (sp *spool) addZero(disk string, first, n int64) {
	sp.entries = append(sp.entries, spoolEntry{disk: disk, first: first, n: n, zero: true})
}

// bytes is the block data held.
func (sp *spool) bytes() int64 { return int64(sp.memLen) + sp.fileLen }

// replay sends the spooled blocks in the order they were captured.
func (sp *spool) replay(ctx context.Context, sd *sender) error {
	buf := make([]byte, 0, 1<<20)
	for _, e := range sp.entries {
		if e.zero {
			if err := sd.zero(e.disk, e.first, e.n); err != nil {
				return err
			}
			continue
		}
		size := e.n * tracker.BlockSize
		var data []byte
		if e.inFile {
			if int64(cap(buf)) < size {
				buf = make([]byte, size)
			}
			data = buf[:size]
			if _, err := sp.f.ReadAt(data, e.off); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
		} else {
			data = sp.mem[e.off]
		}
		if err := sd.send(ctx, e.disk, e.first, data, e.fps); err != nil {
			return err
		}
		if !e.inFile {
			sp.mem[e.off] = nil // sent: let it go
		}
	}
	return nil
}

func (sp *spool) close() {
	if sp.f != nil {
		sp.f.Close()
	}
	sp.mem, sp.entries = nil, nil
}
