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
	buf := opts.Buffer
	if len(buf) < opts.ChunkSize || !directio.Aligned(buf) {
		buf = directio.AlignedBuffer(opts.ChunkSize)
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
	dataRange := func(lo, hi int64) error { // blocks [lo, hi)
		for pos := lo; pos < hi; {
			if err := ctx.Err(); err != nil {
				return err
			}
			end := min((pos/chunkBlocks+1)*chunkBlocks, hi)
			first, last := pos, end // the candidate span of this chunk
			if !c.All {
				first = c.Dirty.Next(pos)
				if first < 0 || first >= end {
					pos = end
					done(end)
					continue
				}
				last = first + 1
				for i := first + 1; i < end; i++ {
					if c.Dirty.Has(i) {
						last = i + 1
					}
				}
			}
			if err := compareSpan(src, size, first, last, buf, fps, c, opts, &st, zeroRun); err != nil {
				return err
			}
			pos = end
			done(end)
		}
		return nil
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
		if !data {
			for i := lo; i < hi; i++ {
				if !c.All && !c.Dirty.Has(i) {
					continue
				}
				st.Blocks++
				st.HoleBlocks++
				if err := zeroRun(i, 1); err != nil {
					return err
				}
			}
			from = hi
			done(hi)
			return nil
		}
		if err := dataRange(lo, hi); err != nil {
			return err
		}
		from = hi
		return nil
	})
	return st, err
}

// compareSpan reads blocks [first, last) and reports those that differ.
func compareSpan(src Source, size, first, last int64, buf []byte, fps []Fingerprint, c Changes, opts CompareOptions,
	st *CompareStats, zeroRun func(first, n int64) error) error {
	off := first * BlockSize
	n := min(last*BlockSize, size) - off
	// Reads of a device with O_DIRECT must be aligned; a file's tail block is padded here.
	want := (n + 511) &^ 511
	p := buf[:want]
	got, err := src.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read at %d: %w", off, err)
	}
	if int64(got) < n {
		return fmt.Errorf("read at %d: short read of %d bytes, want %d", off, got, n)
	}
	span := last - first
	clear(buf[n : span*BlockSize])
	st.ReadBytes += n
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
