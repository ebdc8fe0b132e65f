// Command mutate changes a given share of a disk image's blocks in place, for the vault store
// benchmark (scripts/bench-store.sh): it stands for the writes a machine makes to its disk between
// two recovery points.
//
//	go run ./tools/mutate --image F --percent P --seed S [--block 4096] [--content random|text]
//	                      [--list FILE] [--changed-out FILE]
//
// round(P% of the image's whole blocks) blocks are chosen uniformly at random without repetition
// (a partial Fisher-Yates shuffle driven by a PCG from math/rand/v2 seeded with S) and overwritten
// in place with pwrite, in ascending order; the image is fsynced at the end. A partial block at the
// end of the image is never touched. The new content of a block depends only on the seed and the
// block's number:
//
//   - random (default): pseudo-random bytes, incompressible;
//   - text: lines of words from a fixed list with the block and line numbers, which zstd compresses
//     about 3.1:1 block by block.
//
// The same image, seed and options give the same result. One summary line is printed:
//
//	mutate: image=F blocks=N changed=K percent=P block=4096 content=random seed=S bytes=B zstd_bytes=Z
//
// where bytes is K times the block size and zstd_bytes is the sum over the changed blocks of the
// size of each block's new content compressed on its own with klauspost/compress zstd at
// SpeedFastest (EncodeAll, default options, so each counts a frame header and checksum): what a
// store that compresses blocks on their own at least has to add. --list writes the changed block
// numbers, one a line in ascending order; --changed-out writes the changed blocks' new contents
// concatenated in the same order.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"

	"github.com/klauspost/compress/zstd"
)

// Streams of the PCG: one for the choice of blocks, one for each kind of content.
const (
	streamChoice = 0x6f73722d63686f69 // "osr-choi"
	streamRandom = 0x6f73722d72616e64 // "osr-rand"
	streamText   = 0x6f73722d74657874 // "osr-text"
)

const maxBlock = 1 << 20

// options are the command's settings.
type options struct {
	image      string
	percent    float64
	seed       uint64
	block      int
	content    string
	list       string
	changedOut string
}

// result is what a run changed.
type result struct {
	blocks    int64 // whole blocks in the image
	changed   []int64
	bytes     int64
	zstdBytes int64
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mutate:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("mutate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.image, "image", "", "image file to change in place (required)")
	fs.Float64Var(&o.percent, "percent", -1, "share of the image's blocks to change, 0-100 (required)")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the choice of blocks and of their new content")
	fs.IntVar(&o.block, "block", 4096, "block size in bytes")
	fs.StringVar(&o.content, "content", "random", "new content: random (incompressible) or text (about 3:1 with zstd)")
	fs.StringVar(&o.list, "list", "", "write the changed block numbers to this file, one a line")
	fs.StringVar(&o.changedOut, "changed-out", "", "write the changed blocks' new contents, concatenated, to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	seedSet := false
	fs.Visit(func(f *flag.Flag) { seedSet = seedSet || f.Name == "seed" })
	switch {
	case o.image == "":
		return errors.New("--image is required")
	case o.percent < 0 || o.percent > 100 || math.IsNaN(o.percent):
		return errors.New("--percent is required and must be within 0-100")
	case !seedSet:
		return errors.New("--seed is required")
	case o.block <= 0 || o.block > maxBlock:
		return fmt.Errorf("--block must be within 1-%d", maxBlock)
	case o.content != "random" && o.content != "text":
		return fmt.Errorf("--content must be random or text, not %q", o.content)
	}
	res, err := mutate(o)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "mutate: image=%s blocks=%d changed=%d percent=%g block=%d content=%s seed=%d bytes=%d zstd_bytes=%d\n",
		o.image, res.blocks, len(res.changed), o.percent, o.block, o.content, o.seed, res.bytes, res.zstdBytes)
	return err
}

// mutate does the work of one run.
func mutate(o options) (res result, err error) {
	f, err := os.OpenFile(o.image, os.O_RDWR, 0)
	if err != nil {
		return res, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return res, err
	}
	if !st.Mode().IsRegular() {
		return res, fmt.Errorf("%s is not a regular file", o.image)
	}
	res.blocks = st.Size() / int64(o.block)
	count := int64(math.Round(float64(res.blocks) * o.percent / 100))
	count = min(count, res.blocks)
	res.changed = chooseBlocks(res.blocks, count, o.seed)

	var changedOut *bufio.Writer
	if o.changedOut != "" {
		cf, err := os.Create(o.changedOut)
		if err != nil {
			return res, err
		}
		defer func() {
			if cerr := cf.Close(); err == nil {
				err = cerr
			}
		}()
		changedOut = bufio.NewWriterSize(cf, 1<<20)
	}

	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return res, err
	}
	defer enc.Close()

	buf := make([]byte, o.block)
	var compressed []byte
	for _, b := range res.changed {
		if o.content == "text" {
			fillText(buf, o.seed, b)
		} else {
			fillRandom(buf, o.seed, b)
		}
		if _, err := f.WriteAt(buf, b*int64(o.block)); err != nil {
			return res, err
		}
		compressed = enc.EncodeAll(buf, compressed[:0])
		res.zstdBytes += int64(len(compressed))
		res.bytes += int64(len(buf))
		if changedOut != nil {
			if _, err := changedOut.Write(buf); err != nil {
				return res, err
			}
		}
	}
	if err := f.Sync(); err != nil {
		return res, err
	}
	if changedOut != nil {
		if err := changedOut.Flush(); err != nil {
			return res, err
		}
	}
	if o.list != "" {
		if err := writeList(o.list, res.changed); err != nil {
			return res, err
		}
	}
	return res, nil
}

// chooseBlocks returns count distinct block numbers out of [0, n), chosen uniformly by a partial
// Fisher-Yates shuffle of the virtual array 0..n-1 (only displaced entries are stored), in
// ascending order.
func chooseBlocks(n, count int64, seed uint64) []int64 {
	r := rand.New(rand.NewPCG(seed, streamChoice))
	moved := make(map[int64]int64, count) // index -> value, where it differs from the index
	at := func(i int64) int64 {
		if v, ok := moved[i]; ok {
			return v
		}
		return i
	}
	out := make([]int64, 0, count)
	for i := range count {
		j := i + r.Int64N(n-i)
		vi, vj := at(i), at(j)
		moved[j] = vi
		delete(moved, i) // position i is never looked at again
		out = append(out, vj)
	}
	slices.Sort(out)
	return out
}

// fillRandom fills buf with pseudo-random bytes that depend only on seed and block.
func fillRandom(buf []byte, seed uint64, block int64) {
	r := rand.NewPCG(seed^streamRandom, uint64(block))
	i := 0
	for ; i+8 <= len(buf); i += 8 {
		binary.LittleEndian.PutUint64(buf[i:], r.Uint64())
	}
	if i < len(buf) {
		var tail [8]byte
		binary.LittleEndian.PutUint64(tail[:], r.Uint64())
		copy(buf[i:], tail[:])
	}
}

// words is the fixed vocabulary of text content. Its size sets the compression ratio: with 64
// words drawn uniformly, zstd at SpeedFastest compresses a block on its own about 3.1:1.
var words = [...]string{
	"recovery", "point", "vault", "replica", "disk", "image", "block", "chunk",
	"store", "index", "snapshot", "machine", "volume", "sector", "journal", "inode",
	"extent", "bitmap", "superblock", "checksum", "cipher", "key", "nonce", "pack",
	"blob", "tree", "manifest", "retention", "policy", "prune", "restore", "export",
	"failover", "failback", "site", "primary", "secondary", "network", "latency", "bandwidth",
	"buffer", "cache", "page", "flush", "commit", "rollback", "lease", "lock",
	"the", "a", "of", "to", "and", "in", "is", "for",
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
}

// fillText fills buf with lines of words that depend only on seed and block, such as
// "00001234.017 recovery of vault snapshot ...\n". zstd at its fastest level compresses such a
// block on its own about 3:1.
func fillText(buf []byte, seed uint64, block int64) {
	r := rand.New(rand.NewPCG(seed^streamText, uint64(block)))
	line := make([]byte, 0, 128)
	n := 0
	for lineNo := 0; n < len(buf); lineNo++ {
		line = line[:0]
		line = appendPadded(line, block, 8)
		line = append(line, '.')
		line = appendPadded(line, int64(lineNo), 3)
		for len(line) < 72 {
			line = append(line, ' ')
			line = append(line, words[r.IntN(len(words))]...)
		}
		line = append(line, '\n')
		n += copy(buf[n:], line)
	}
}

// appendPadded appends v in decimal, zero-padded to width digits.
func appendPadded(dst []byte, v int64, width int) []byte {
	s := strconv.FormatInt(v, 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

func writeList(path string, blocks []int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, b := range blocks {
		w.WriteString(strconv.FormatInt(b, 10))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
