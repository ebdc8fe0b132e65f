package processserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/opensiterecovery/osr/internal/wire"
)

// pointFrames returns real wire frames of a point, as a session appends them (f.Raw): a
// BeginPoint, Blocks frames of 1 to 256 blocks with their fingerprints and Zero frames, about
// size bytes in all, and an EndPoint.
func pointFrames(t testing.TB, seed uint64, size int) [][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	enc := func(m wire.Message) []byte {
		p, err := m.AppendPayload(nil)
		if err != nil {
			t.Fatal(err)
		}
		return wire.AppendFrame(nil, m.Type(), p)
	}
	frames := [][]byte{enc(&wire.BeginPoint{Seq: seed, Kind: wire.KindCrash, Disks: []wire.Disk{{Name: "sda", Size: 1 << 40}}})}
	total, first := len(frames[0]), uint64(0)
	for total < size {
		var f []byte
		if rng.IntN(5) == 0 {
			f = enc(&wire.Zero{Seq: seed, Disk: "sda", First: first, Count: uint64(1 + rng.IntN(1000))})
			first += 1000
		} else {
			n := 1 + rng.IntN(wire.MaxBlocksPerFrame)
			b := wire.Blocks{Seq: seed, Disk: "sda", First: first, Data: make([]byte, n*wire.BlockSize)}
			for i := 0; i < len(b.Data); i += 8 {
				v := rng.Uint64()
				for k := range 8 {
					b.Data[i+k] = byte(v >> (8 * k))
				}
			}
			b.SetFingerprints()
			f = enc(b)
			first += uint64(n)
		}
		frames = append(frames, f)
		total += len(f)
	}
	return append(frames, enc(&wire.EndPoint{Seq: seed}))
}

func frameBytes(frames [][]byte) int64 {
	var n int64
	for _, f := range frames {
		n += int64(len(f))
	}
	return n
}

// appendAll appends frames to sp and finishes it.
func appendAll(t testing.TB, sp *spool, frames [][]byte) {
	t.Helper()
	for _, f := range frames {
		if _, err := sp.Append(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.Finish(); err != nil {
		t.Fatal(err)
	}
}

// readResult is what a reader got: the frames' offsets and whether each was Trusted; err is the
// first difference from the frames appended, or the reader's error.
type readResult struct {
	offsets []int64
	trusted []bool
	err     error
}

// readFrames reads want from r, comparing each frame byte for byte, then, if eof, expects io.EOF.
func readFrames(r *frameReader, want [][]byte, eof bool) readResult {
	var res readResult
	var off int64
	for i, w := range want {
		f, err := r.next()
		if err != nil {
			res.err = fmt.Errorf("frame %d at %d: %w", i, off, err)
			return res
		}
		if !bytes.Equal(f.Raw, w) {
			res.err = fmt.Errorf("frame %d at %d: %d bytes differ from the %d appended", i, off, len(f.Raw), len(w))
			return res
		}
		res.offsets = append(res.offsets, off)
		res.trusted = append(res.trusted, r.Trusted)
		off += int64(len(w))
	}
	if !eof {
		return res
	}
	if f, err := r.next(); err != io.EOF {
		res.err = fmt.Errorf("after the last frame: %s frame, %v; want EOF", f.Type, err)
	}
	return res
}

// poolAllBack fails unless every chunk is back in the pool: none out and, where the pool maps a
// region, every chunk it carved from the region idle (not one of the spools' own buffers in the
// place of one, which would leave the region's chunk unused and a heap buffer in the pool).
func poolAllBack(t *testing.T, pool *chunkPool) {
	t.Helper()
	if n := pool.inUse(); n != 0 {
		t.Fatalf("%d chunks of the pool still out", n)
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if pool.region == nil {
		return
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(pool.region)))
	var in int
	for _, b := range pool.idle {
		if at := uintptr(unsafe.Pointer(unsafe.SliceData(b))); at >= start && at < start+uintptr(len(pool.region)) {
			in++
		}
	}
	if len(pool.idle) != pool.next || in != pool.next {
		t.Fatalf("the pool carved %d chunks of its region and has %d idle, %d of them from the region", pool.next, len(pool.idle), in)
	}
}

func newSpool(t *testing.T, pool *chunkPool) (*spool, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "7.part")
	sp, err := createSpool(p, pool)
	if err != nil {
		t.Fatal(err)
	}
	return sp, p
}

func openReader(t *testing.T, path string, sp *spool) *frameReader {
	t.Helper()
	r, err := openFrameReader(path, sp)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// With a pool big enough for the point, a reader following the spool, from the start or only
// once it is finished, gets every byte from memory: every frame Trusted, nothing read back.
func TestSpoolReaderFromMemory(t *testing.T) {
	frames := pointFrames(t, 1, 9<<20+12345)
	total := frameBytes(frames)
	for _, tc := range []struct {
		name  string
		early bool // the reader follows the appends; else it starts after Finish
	}{
		{"reader follows the appends", true},
		{"reader starts after finish", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := newChunkPool(16 * spoolChunk)
			sp, path := newSpool(t, pool)
			var r *frameReader
			done := make(chan readResult, 1)
			if tc.early {
				r = openReader(t, path, sp)
				go func() { done <- readFrames(r, frames, true) }()
			}
			appendAll(t, sp, frames)
			if !tc.early {
				r = openReader(t, path, sp)
				done <- readFrames(r, frames, true)
			}
			res := <-done
			if res.err != nil {
				t.Fatal(res.err)
			}
			if r.FromMemory != total || r.FromFile != 0 {
				t.Fatalf("read %d bytes from memory and %d from the file; want %d and 0", r.FromMemory, r.FromFile, total)
			}
			for i, tr := range res.trusted {
				if !tr {
					t.Fatalf("frame %d at %d is not Trusted", i, res.offsets[i])
				}
			}
			if err := sp.Close(); err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			poolAllBack(t, pool)
		})
	}
}

// stolenSpool appends frames to a spool of a pool of two chunks with no reader, so that the
// appender takes back its oldest kept chunks: the spool's own two buffers and the pool's two hold
// the last three chunks and the tail. It returns the spool, its path, and where the kept chunks
// begin.
func stolenSpool(t *testing.T, frames [][]byte) (*spool, string, *chunkPool, int64) {
	t.Helper()
	total := frameBytes(frames)
	if total%spoolChunk == 0 || total < 8*spoolChunk {
		t.Fatalf("%d bytes of frames: want more than 8 chunks and a partial tail", total)
	}
	pool := newChunkPool(2 * spoolChunk)
	sp, path := newSpool(t, pool)
	appendAll(t, sp, frames)
	if n := pool.inUse(); n != 2 {
		t.Fatalf("%d chunks of the pool out, want all 2", n)
	}
	kept := (total/spoolChunk - 3) * spoolChunk
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if len(sp.kept) != 4 || sp.kept[0].off != kept {
		var offs []int64
		for _, c := range sp.kept {
			offs = append(offs, c.off)
		}
		t.Fatalf("chunks kept from offsets %v; want 4 from %d", offs, kept)
	}
	return sp, path, pool, kept
}

// corruptAt flips a bit of the file at off, as a bad disk would.
func corruptAt(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// frameAt returns the index and offset of the frame holding byte off.
func frameAt(frames [][]byte, off int64) (int, int64) {
	var at int64
	for i, f := range frames {
		if off < at+int64(len(f)) {
			return i, at
		}
		at += int64(len(f))
	}
	return -1, -1
}

// With a pool of two chunks, a reader that starts late gets the chunks the appender took back
// from the file, checked again (not Trusted), and the rest from memory, the bytes exact either
// way. A bit flipped in the file where it is read back is caught with the frame's offset; one
// flipped where the reader has memory is never seen.
func TestSpoolReaderStolenChunks(t *testing.T) {
	frames := pointFrames(t, 2, 11<<20+777)
	total := frameBytes(frames)

	t.Run("exact bytes", func(t *testing.T) {
		sp, path, pool, kept := stolenSpool(t, frames)
		r := openReader(t, path, sp)
		res := readFrames(r, frames, true)
		if res.err != nil {
			t.Fatal(res.err)
		}
		if r.FromFile != kept || r.FromMemory != total-kept {
			t.Fatalf("read %d bytes from the file and %d from memory; want %d and %d", r.FromFile, r.FromMemory, kept, total-kept)
		}
		var trusted int
		for i, at := range res.offsets {
			if want := at >= kept; res.trusted[i] != want {
				t.Fatalf("frame %d at %d (memory from %d): Trusted %v", i, at, kept, res.trusted[i])
			}
			if res.trusted[i] {
				trusted++
			}
		}
		if trusted == 0 || trusted == len(frames) {
			t.Fatalf("%d of %d frames Trusted: want some of each", trusted, len(frames))
		}
		r.Close()
		sp.Close()
		poolAllBack(t, pool)
	})

	t.Run("corrupt where read back", func(t *testing.T) {
		sp, path, pool, kept := stolenSpool(t, frames)
		i, at := frameAt(frames, kept/2)
		corruptAt(t, path, at+int64(len(frames[i]))/2)
		r := openReader(t, path, sp)
		res := readFrames(r, frames, true)
		want := fmt.Sprintf("frame %d at %d: corrupt cache file %s at offset %d: frame checksum mismatch", i, at, path, at)
		if res.err == nil || res.err.Error() != want {
			t.Fatalf("got %v, want %s", res.err, want)
		}
		if !errors.Is(res.err, errCorruptCache) || !errors.Is(res.err, wire.ErrChecksum) {
			t.Fatalf("%v is not a corrupt cache's checksum error", res.err)
		}
		if len(res.offsets) != i {
			t.Fatalf("%d frames before the error, want %d", len(res.offsets), i)
		}
		r.Close()
		sp.Close()
		poolAllBack(t, pool)
	})

	t.Run("corrupt where kept in memory", func(t *testing.T) {
		sp, path, pool, kept := stolenSpool(t, frames)
		i, at := frameAt(frames, kept+spoolChunk+100)
		if at < kept {
			t.Fatalf("frame %d at %d is not wholly in memory (from %d)", i, at, kept)
		}
		corruptAt(t, path, at+int64(len(frames[i]))/2)
		r := openReader(t, path, sp)
		if res := readFrames(r, frames, true); res.err != nil {
			t.Fatalf("the memory path read the file: %v", res.err)
		}
		r.Close()
		sp.Close()
		poolAllBack(t, pool)
		// The file does hold the flipped bit: a reader of the complete file refuses it.
		fr := openReader(t, path, nil)
		defer fr.Close()
		res := readFrames(fr, frames, true)
		want := fmt.Sprintf("frame %d at %d: corrupt cache file %s at offset %d: frame checksum mismatch", i, at, path, at)
		if res.err == nil || res.err.Error() != want {
			t.Fatalf("reader of the complete file: %v, want %s", res.err, want)
		}
	})
}

// readableFrames returns how many of the first frames lie wholly in the chunks that appending
// frames[:n] fills: a reader gets those without waiting for more appends or Finish.
func readableFrames(frames [][]byte, n int) int {
	full := frameBytes(frames[:n]) / spoolChunk * spoolChunk
	var end int64
	for k, f := range frames[:n] {
		if end += int64(len(f)); end > full {
			return k
		}
	}
	return n
}

// The pool's chunks all come back once the spool is finished and closed and its reader closed,
// in either order, whether the reader read all, some or none, detached early, or the point failed.
func TestSpoolPoolAccounting(t *testing.T) {
	frames := pointFrames(t, 3, 7<<20+99)
	half := len(frames) / 2
	some := readableFrames(frames, half)
	if some < 2 {
		t.Fatalf("only %d frames readable of the first %d", some, half)
	}
	errFail := errors.New("session ended")
	for _, tc := range []struct {
		name        string
		read        int  // frames the reader reads before its Close (all: to the end or the failure)
		readerFirst bool // the reader closes before the spool
		early       bool // the reader closes half way through the appends
		fail        bool // the point fails half way: Fail and Close, no Finish
	}{
		{"reader closes first", len(frames), true, false, false},
		{"spool closes first", len(frames), false, false, false},
		{"reader stops early, closes first", some, true, false, false},
		{"reader stops early, spool closes first", some, false, false, false},
		{"reader reads nothing", 0, false, false, false},
		{"reader detaches during the appends", some, true, true, false},
		{"point fails, reader closes first", len(frames), true, false, true},
		{"point fails, spool closes first", len(frames), false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := newChunkPool(3 * spoolChunk)
			sp, path := newSpool(t, pool)
			r := openReader(t, path, sp)
			read := make(chan error, 1)
			go func() {
				if tc.read < len(frames) {
					read <- readFrames(r, frames[:tc.read], false).err
					return
				}
				err := readFrames(r, frames, true).err
				if tc.fail && errors.Is(err, errFail) {
					err = nil // what a reader of a failed point gets
				} else if tc.fail {
					err = fmt.Errorf("reader of a failed point: %v", err)
				}
				read <- err
			}()
			stop := len(frames)
			if tc.fail || tc.early {
				stop = half
			}
			for _, f := range frames[:stop] {
				if _, err := sp.Append(f); err != nil {
					t.Fatal(err)
				}
			}
			if n := pool.inUse(); n > pool.max {
				t.Fatalf("%d chunks out of a pool of %d", n, pool.max)
			}
			if tc.early {
				if err := <-read; err != nil {
					t.Fatal(err)
				}
				r.Close()
				for _, f := range frames[stop:] {
					if _, err := sp.Append(f); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tc.fail {
				sp.Fail(errFail)
			} else if err := sp.Finish(); err != nil {
				t.Fatal(err)
			}
			if !tc.early {
				if err := <-read; err != nil {
					t.Fatal(err)
				}
			}
			if tc.readerFirst && !tc.early {
				r.Close()
			}
			if err := sp.Close(); err != nil {
				t.Fatal(err)
			}
			if !tc.readerFirst {
				r.Close()
			}
			poolAllBack(t, pool)
		})
	}
}

// Two points arriving at once share a pool of three chunks: the first, unread for a while, takes
// all three; from then on both spools and their readers run at once and the pool never has more
// out than its three. Both readers get their bytes exact, and every chunk comes back.
func TestSpoolsSharePool(t *testing.T) {
	pool := newChunkPool(3 * spoolChunk)
	var stop atomic.Bool
	var worst atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for !stop.Load() {
			if n := int64(pool.inUse()); n < 0 || n > int64(pool.max) {
				worst.Store(n)
			}
			runtime.Gosched()
		}
	}()
	frames := [][][]byte{pointFrames(t, 10, 9<<20), pointFrames(t, 11, 9<<20+4096)}
	sps, paths := make([]*spool, 2), make([]string, 2)
	for k := range 2 {
		sps[k], paths[k] = newSpool(t, pool)
	}
	// The first point's first half, with no reader: its chunks are kept, three from the pool.
	half := len(frames[0]) / 2
	for _, f := range frames[0][:half] {
		if _, err := sps[0].Append(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := sps[0].wait(); err != nil {
		t.Fatal(err)
	}
	if n := pool.inUse(); n != pool.max {
		t.Fatalf("%d chunks out after %d bytes kept, want all %d", n, frameBytes(frames[0][:half]), pool.max)
	}
	var wg sync.WaitGroup
	errs, appendErrs := make([]error, 2), make([]error, 2)
	for k := range 2 {
		r := openReader(t, paths[k], sps[k])
		rest := frames[k]
		if k == 0 {
			rest = rest[half:]
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			res := readFrames(r, frames[k], true)
			r.Close()
			errs[k] = res.err
		}()
		go func() {
			defer wg.Done()
			sp := sps[k]
			for _, f := range rest {
				if _, err := sp.Append(f); err != nil {
					appendErrs[k] = err
					sp.Fail(err)
					break
				}
			}
			if appendErrs[k] == nil {
				appendErrs[k] = sp.Finish()
			}
			sp.Close()
		}()
	}
	wg.Wait()
	stop.Store(true)
	<-sampled
	for k := range errs {
		if appendErrs[k] != nil || errs[k] != nil {
			t.Fatalf("point %d: appends %v, reader %v", k, appendErrs[k], errs[k])
		}
	}
	if n := worst.Load(); n != 0 {
		t.Fatalf("the pool of %d chunks had %d out", pool.max, n)
	}
	poolAllBack(t, pool)
}

// A reader that detaches leaves nothing kept; a reader that attaches later reads what it missed
// from the file, checked again, with the bytes exact.
func TestSpoolReaderReattaches(t *testing.T) {
	frames := pointFrames(t, 4, 8<<20+4321)
	total := frameBytes(frames)
	half := len(frames) / 2
	if readableFrames(frames, half) < 2 {
		t.Fatalf("only %d frames readable of the first %d", readableFrames(frames, half), half)
	}
	for _, tc := range []struct {
		name  string
		later bool // the second reader attaches after Finish; else half way through the appends
	}{
		{"second reader after finish", true},
		{"second reader during the appends", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := newChunkPool(32 * spoolChunk)
			sp, path := newSpool(t, pool)
			r1 := openReader(t, path, sp)
			first := make(chan readResult, 1)
			go func() { first <- readFrames(r1, frames[:readableFrames(frames, half)], false) }()
			for _, f := range frames[:half] {
				if _, err := sp.Append(f); err != nil {
					t.Fatal(err)
				}
			}
			if res := <-first; res.err != nil {
				t.Fatalf("first reader: %v", res.err)
			}
			r1.Close()
			sp.mu.Lock()
			kept := len(sp.kept)
			sp.mu.Unlock()
			if kept != 0 {
				t.Fatalf("%d chunks kept with no reader attached", kept)
			}
			var r2 *frameReader
			second := make(chan readResult, 1)
			if !tc.later {
				r2 = openReader(t, path, sp)
				go func() { second <- readFrames(r2, frames, true) }()
			}
			for _, f := range frames[half:] {
				if _, err := sp.Append(f); err != nil {
					t.Fatal(err)
				}
			}
			if err := sp.Finish(); err != nil {
				t.Fatal(err)
			}
			if tc.later {
				r2 = openReader(t, path, sp)
				second <- readFrames(r2, frames, true)
			}
			res := <-second
			if res.err != nil {
				t.Fatal(res.err)
			}
			if r2.FromFile+r2.FromMemory != total {
				t.Fatalf("read %d from the file and %d from memory, %d bytes in all", r2.FromFile, r2.FromMemory, total)
			}
			if tc.later && (r2.FromFile != total || r2.FromMemory != 0) {
				t.Fatalf("read %d from the file and %d from memory; want all %d from the file", r2.FromFile, r2.FromMemory, total)
			}
			if !tc.later && r2.FromFile < spoolChunk {
				t.Fatalf("read %d from the file: what was released before the reader came is there", r2.FromFile)
			}
			if res.trusted[0] || (tc.later && res.trusted[len(res.trusted)-1]) {
				t.Fatal("a frame read back from the file is Trusted")
			}
			r2.Close()
			sp.Close()
			poolAllBack(t, pool)
		})
	}
}
