package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/opensiterecovery/osr/internal/crypto"
)

// ID is a blob or object ID.
type ID = crypto.ID

// FormatVersion is the store format this package writes and reads.
const FormatVersion = 1

// Geometry of disk trees written by this version. Each disk records its own geometry, so later
// versions may choose others without rewriting old points.
const (
	BlockSize    = 4096
	LeafBlocks   = 32 // 128 KiB per leaf; also the largest data blob
	Fanout       = 64
	maxBlobBytes = LeafBlocks * BlockSize
)

// BlobType tells data blobs from tree nodes.
type BlobType uint8

const (
	DataBlob BlobType = 0
	TreeBlob BlobType = 1
)

func (t BlobType) String() string {
	switch t {
	case DataBlob:
		return "data"
	case TreeBlob:
		return "tree"
	}
	return fmt.Sprintf("blob-type-%d", uint8(t))
}

// Object name prefixes in the backend.
const (
	configName   = "config"
	keysPrefix   = "keys/"
	dataPrefix   = "data/"
	indexPrefix  = "index/"
	pointsPrefix = "points/"
	locksPrefix  = "locks/"
	condemnedPfx = "condemned/"
)

func packName(id ID) string {
	s := id.String()
	return dataPrefix + s[:2] + "/" + s
}

// ErrCorrupt is wrapped by every error about damaged or malformed stored data.
var ErrCorrupt = errors.New("corrupt")

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// decoder reads the binary encodings with bounds checks; the first failure sticks.
type decoder struct {
	b    []byte
	err  error
	what string
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = corruptf("%s: %s", d.what, msg)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1() byte {
	b := d.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *decoder) id() ID {
	var id ID
	copy(id[:], d.bytes(crypto.IDSize))
	return id
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	return d.err
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
