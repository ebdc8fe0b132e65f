package tracker

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/zeebo/xxh3"

	"github.com/opensiterecovery/osr/internal/directio"
)

// Fingerprint is the XXH3-128 of a 4 KiB block, exactly as the store keeps it in its tree leaves;
// the zero value stands for a block that reads as zeros (the store keeps no data for it).
type Fingerprint [16]byte

var zeroBlock = make([]byte, BlockSize)

// FingerprintOf returns the fingerprint of one block of BlockSize bytes: the zero Fingerprint for an
// all-zero block, else XXH3-128.
func FingerprintOf(b []byte) Fingerprint {
	if isZero(b) {
		return Fingerprint{}
	}
	return xxh3.Hash128(b).Bytes()
}

// HashOf returns XXH3-128 of the block whatever its content (what a Blocks frame carries).
func HashOf(b []byte) Fingerprint { return xxh3.Hash128(b).Bytes() }

func isZero(b []byte) bool {
	for len(b) >= BlockSize {
		if string(b[:BlockSize]) != string(zeroBlock) {
			return false
		}
		b = b[BlockSize:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Source is a disk to compare: a file or device with its size and its data ranges (holes read as
// zeros and are not read).
type Source interface {
	io.ReaderAt
	Size() int64
	Ranges(fn func(off, length int64, data bool) error) error
}

// Blocks returns the number of blocks of a disk of size bytes (the last one padded with zeros).
func Blocks(size int64) int64 { return (size + BlockSize - 1) / BlockSize }

// CompareOptions say what to do with the blocks that differ.
type CompareOptions struct {
	// Base returns the fingerprint block i has in the state the comparison is against.
	Base func(i int64) Fingerprint
	// Changed receives a run of consecutive blocks that differ from Base and are not all zeros:
	// their content (n*BlockSize bytes, valid only during the call) and fingerprints.
	Changed func(first int64, data []byte, fps []Fingerprint) error
	// Zeroed receives a run of blocks that read as zeros now but not in Base.
	Zeroed func(first, n int64) error
	// ChunkSize is the read size in bytes, a multiple of BlockSize; default 1 MiB.
	ChunkSize int
	// Progress, if set, is called with the bytes of the disk covered so far.
	Progress func(done int64)
	// From is the first block to compare (to resume); blocks before it are not looked at.
	From int64
	// Buffer, if at least ChunkSize bytes and aligned for direct I/O (directio.AlignedBuffer), is
	// used for the reads instead of a new one.
	Buffer []byte
}

// CompareStats count what a comparison did.
type CompareStats struct {
	Blocks      int64 // blocks compared
	ReadBytes   int64 // bytes read from the disk
	HoleBlocks  int64 // blocks in holes, not read
	Changed     int64 // blocks that differ and hold data
	Zeroed      int64 // blocks that now read as zeros but did not
	ZeroSkipped int64 // all-zero blocks that were zero in Base as well
}

// Compare reads the candidate blocks of src (all of them, or those marked in c.Dirty), fingerprints
// them and reports those that differ from opts.Base. Holes are not read. Reads are large and
// aligned, so src may be a device opened with O_DIRECT.
func Compare(ctx context.Context, src Source, c Changes, opts CompareOptions) (CompareStats, error) {
	var st CompareStats
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 1 << 20
	}
	if opts.ChunkSize%BlockSize != 0 {
		return st, fmt.Errorf("chunk size %d is not a multiple of %d", opts.ChunkSize, BlockSize)
	}
	if !c.All && c.Dirty == nil {
		return st, errors.New("compare: no candidate blocks given (neither all nor a dirty bitmap)")
	}
	size := src.Size()
	nblocks := Blocks(size)
	chunkBlocks := int64(opts.ChunkSize / BlockSize)
	// Two buffers: one is read into while the other is fingerprinted (reads of a device with
	// O_DIRECT wait for the device, not the CPU).
	bufs := make(chan []byte, 2)
	for k := 0; k < 2; k++ {
		b := opts.Buffer
		if len(b) >= 2*opts.ChunkSize {
			b = b[k*opts.ChunkSize : (k+1)*opts.ChunkSize]
		} else if k == 1 || len(b) < opts.ChunkSize || !directio.Aligned(b) {
			b = directio.AlignedBuffer(opts.ChunkSize)
		}
		bufs <- b[:opts.ChunkSize]
	}
	fps := make([]Fingerprint, chunkBlocks)
	from := max(opts.From, 0)
	done := func(b int64) {
		if opts.Progress != nil {
			opts.Progress(min(b*BlockSize, size))
		}
	}
	zeroRun := func(first, n int64) error {
		// Report runs of blocks in [first, first+n) whose base is not zero.
		for i := first; i < first+n; {
			if opts.Base(i) == (Fingerprint{}) {
				st.ZeroSkipped++
				i++
				continue
			}
			j := i
			for j < first+n && opts.Base(j) != (Fingerprint{}) {
				j++
			}
			st.Zeroed += j - i
			if err := opts.Zeroed(i, j-i); err != nil {
				return err
			}
			i = j
		}
		return nil
	}

	// The producer walks the disk and reads; the consumer (this goroutine) compares, in order.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tasks := make(chan task, 1)
	go func() {
		defer close(tasks)
		send := func(t task) bool {
			select {
			case tasks <- t:
				return true
			case <-pctx.Done():
				if t.buf != nil {
					bufs <- t.buf
				}
				return false
			}
		}
		err := src.Ranges(func(off, length int64, data bool) error {
			lo, hi := off/BlockSize, Blocks(off+length)
			if !data {
				// Blocks wholly inside the hole read as zeros; a block shared with data is read.
				lo, hi = Blocks(off), (off+length)/BlockSize
				if off+length == size {
					hi = nblocks
				}
			}
			lo = max(lo, from)
			if hi <= lo {
				return nil
			}
			from = hi
			if !data {
				if !send(task{hole: true, first: lo, last: hi, end: hi}) {
					return pctx.Err()
				}
				return nil
			}
			if !c.All {
				return readDirty(pctx, src, size, lo, hi, chunkBlocks, c.Dirty, bufs, send)
			}
			for pos := lo; pos < hi; {
				if err := pctx.Err(); err != nil {
					return err
				}
				end := min((pos/chunkBlocks+1)*chunkBlocks, hi)
				first, last := pos, end // the candidate span of this chunk
				var buf []byte
				select {
				case buf = <-bufs:
				case <-pctx.Done():
					return pctx.Err()
				}
				n, err := readSpan(src, size, first, last, buf)
				if !send(task{first: first, last: last, end: end, buf: buf, n: n, err: err}) {
					return pctx.Err()
				}
				pos = end
			}
			return nil
		})
		if err != nil && pctx.Err() == nil {
			send(task{err: err, end: -1})
		}
	}()
	var err error
	for t := range tasks {
		if err != nil {
			if t.buf != nil {
				bufs <- t.buf
			}
			continue
		}
		switch {
		case t.err != nil:
			err = t.err
		case t.hole:
			for i := t.first; i < t.last && err == nil; i++ {
				if !c.All && !c.Dirty.Has(i) {
					continue
				}
				st.Blocks++
				st.HoleBlocks++
				err = zeroRun(i, 1)
			}
		case t.buf != nil:
			st.ReadBytes += t.n
			err = compareSpan(t.first, t.last, t.buf, fps, c, opts, &st, zeroRun)
		}
		if t.buf != nil {
			bufs <- t.buf
		}
		if err != nil {
			cancel()
			continue
		}
		done(t.end)
	}
	if err == nil {
		err = ctx.Err()
	}
	return st, err
}

// task is one step of a comparison: a hole, a span read into buf, or progress only.
type task struct {
	hole        bool
	first, last int64 // blocks
	end         int64 // progress: blocks covered after this task
	buf         []byte
	n           int64 // bytes read
	err         error
}

// readSpan reads blocks [first, last) into buf, padding a short tail with zeros, and returns the
// bytes read.
func readSpan(src Source, size, first, last int64, buf []byte) (int64, error) {
	off := first * BlockSize
	n := min(last*BlockSize, size) - off
	// Reads of a device with O_DIRECT must be aligned; a file's tail block is padded here.
	want := (n + 511) &^ 511
	got, err := src.ReadAt(buf[:want], off)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read at %d: %w", off, err)
	}
	if int64(got) < n {
		return 0, fmt.Errorf("read at %d: short read of %d bytes, want %d", off, got, n)
	}
	clear(buf[n : (last-first)*BlockSize])
	return n, nil
}

// compareSpan compares blocks [first, last), already read into buf, and reports those that differ.
func compareSpan(first, last int64, buf []byte, fps []Fingerprint, c Changes, opts CompareOptions,
	st *CompareStats, zeroRun func(first, n int64) error) error {
	span := last - first
	for i := int64(0); i < span; {
		b := first + i
		if !c.All && !c.Dirty.Has(b) {
			i++
			continue
		}
		st.Blocks++
		blk := buf[i*BlockSize : (i+1)*BlockSize]
		fp := FingerprintOf(blk)
		if fp == opts.Base(b) {
			if fp == (Fingerprint{}) {
				st.ZeroSkipped++
			}
			i++
			continue
		}
		if fp == (Fingerprint{}) {
			if err := zeroRun(b, 1); err != nil {
				return err
			}
			i++
			continue
		}
		// A run of changed, non-zero candidate blocks.
		j := i
		for j < span {
			bj := first + j
			if !c.All && !c.Dirty.Has(bj) {
				break
			}
			var fj Fingerprint
			if j == i {
				fj = fp
			} else {
				fj = FingerprintOf(buf[j*BlockSize : (j+1)*BlockSize])
				if fj == (Fingerprint{}) || fj == opts.Base(bj) {
					break
				}
				st.Blocks++
			}
			fps[j-i] = fj
			j++
		}
		st.Changed += j - i
		if err := opts.Changed(b, buf[i*BlockSize:j*BlockSize], fps[:j-i]); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// maxGap is the most clean blocks a read of dirty blocks spans rather than starting a new read.
const maxGap = 16

// readDirty reads the dirty blocks of [lo, hi) in runs of at most chunkBlocks, a run ending where
// more than maxGap clean blocks follow, and sends them as tasks. Its cost is the dirty blocks plus
// one walk of the bitmap's words, whatever the disk's size.
func readDirty(ctx context.Context, src Source, size, lo, hi, chunkBlocks int64, dirty *Bitmap,
	bufs chan []byte, send func(task) bool) error {
	next := dirty.Next(lo)
	for next >= 0 && next < hi {
		if err := ctx.Err(); err != nil {
			return err
		}
		first, last := next, next+1
		limit := min(first+chunkBlocks, hi)
		for {
			next = dirty.Next(last)
			if next < 0 || next >= limit || next-last > maxGap {
				break
			}
			last = next + 1
		}
		var buf []byte
		select {
		case buf = <-bufs:
		case <-ctx.Done():
			return ctx.Err()
		}
		n, err := readSpan(src, size, first, last, buf)
		if !send(task{first: first, last: last, end: last, buf: buf, n: n, err: err}) {
			return ctx.Err()
		}
	}
	if !send(task{end: hi}) {
		return ctx.Err()
	}
	return nil
}
