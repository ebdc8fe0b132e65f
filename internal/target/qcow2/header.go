package qcow2

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Fixed values of the images osr writes.
const (
	Magic         = 0x514649fb // "QFI\xfb"
	Version       = 3
	ClusterBits   = 16 // 64 KiB clusters
	ClusterSize   = 1 << ClusterBits
	RefcountOrder = 4 // 16-bit refcounts
	HeaderLength  = 104
	// MaxSize is the largest virtual size the writer and parser accept (64 TiB).
	MaxSize = 64 << 40
)

// Table entry flags.
const (
	flagCopied     = uint64(1) << 63 // refcount is exactly 1
	flagCompressed = uint64(1) << 62
	offsetMask     = uint64(0x00fffffffffffe00)
)

// Header is a qcow2 version 3 header (the fields before any header extension).
type Header struct {
	BackingFileOffset     uint64
	BackingFileSize       uint32
	ClusterBits           uint32
	Size                  uint64 // virtual size in bytes
	CryptMethod           uint32
	L1Size                uint32 // entries
	L1TableOffset         uint64
	RefcountTableOffset   uint64
	RefcountTableClusters uint32
	NbSnapshots           uint32
	SnapshotsOffset       uint64
	IncompatibleFeatures  uint64
	CompatibleFeatures    uint64
	AutoclearFeatures     uint64
	RefcountOrder         uint32
	HeaderLength          uint32
}

// ErrNotQcow2 is wrapped by ParseHeader's error when the magic is not qcow2's.
var ErrNotQcow2 = errors.New("not a qcow2 image")

// ClusterSize returns the header's cluster size in bytes.
func (h Header) ClusterSize() int64 { return 1 << h.ClusterBits }

// Marshal encodes the header followed by the end-of-extensions marker (8 zero bytes).
func (h Header) Marshal() []byte {
	b := make([]byte, HeaderLength+8)
	be := binary.BigEndian
	be.PutUint32(b[0:], Magic)
	be.PutUint32(b[4:], Version)
	be.PutUint64(b[8:], h.BackingFileOffset)
	be.PutUint32(b[16:], h.BackingFileSize)
	be.PutUint32(b[20:], h.ClusterBits)
	be.PutUint64(b[24:], h.Size)
	be.PutUint32(b[32:], h.CryptMethod)
	be.PutUint32(b[36:], h.L1Size)
	be.PutUint64(b[40:], h.L1TableOffset)
	be.PutUint64(b[48:], h.RefcountTableOffset)
	be.PutUint32(b[56:], h.RefcountTableClusters)
	be.PutUint32(b[60:], h.NbSnapshots)
	be.PutUint64(b[64:], h.SnapshotsOffset)
	be.PutUint64(b[72:], h.IncompatibleFeatures)
	be.PutUint64(b[80:], h.CompatibleFeatures)
	be.PutUint64(b[88:], h.AutoclearFeatures)
	be.PutUint32(b[96:], h.RefcountOrder)
	be.PutUint32(b[100:], HeaderLength)
	return b
}

// l1Entries is how many L1 entries a virtual size needs with clusters of 1<<bits bytes.
func l1Entries(size uint64, bits uint32) uint64 {
	perL2 := uint64(1) << (2*bits - 3) // bytes one L2 table maps
	return (size + perL2 - 1) / perL2
}

// ParseHeader decodes and checks the header at the start of a qcow2 image (b holds at least the
// header; the first cluster is enough). It accepts version 3 images that a reader without
// backing files, encryption or incompatible features can use, and checks that the tables it
// points to are where a valid image keeps them.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < 8 {
		return Header{}, fmt.Errorf("qcow2 header: %d bytes, want at least %d", len(b), HeaderLength)
	}
	be := binary.BigEndian
	if m := be.Uint32(b); m != Magic {
		return Header{}, fmt.Errorf("qcow2 header: magic 0x%08x: %w", m, ErrNotQcow2)
	}
	if v := be.Uint32(b[4:]); v != Version {
		return Header{}, fmt.Errorf("qcow2 header: version %d, want %d", v, Version)
	}
	if len(b) < HeaderLength {
		return Header{}, fmt.Errorf("qcow2 header: %d bytes, want at least %d", len(b), HeaderLength)
	}
	h := Header{
		BackingFileOffset:     be.Uint64(b[8:]),
		BackingFileSize:       be.Uint32(b[16:]),
		ClusterBits:           be.Uint32(b[20:]),
		Size:                  be.Uint64(b[24:]),
		CryptMethod:           be.Uint32(b[32:]),
		L1Size:                be.Uint32(b[36:]),
		L1TableOffset:         be.Uint64(b[40:]),
		RefcountTableOffset:   be.Uint64(b[48:]),
		RefcountTableClusters: be.Uint32(b[56:]),
		NbSnapshots:           be.Uint32(b[60:]),
		SnapshotsOffset:       be.Uint64(b[64:]),
		IncompatibleFeatures:  be.Uint64(b[72:]),
		CompatibleFeatures:    be.Uint64(b[80:]),
		AutoclearFeatures:     be.Uint64(b[88:]),
		RefcountOrder:         be.Uint32(b[96:]),
		HeaderLength:          be.Uint32(b[100:]),
	}
	if h.HeaderLength < HeaderLength || h.HeaderLength%8 != 0 || int(h.HeaderLength) > len(b) {
		return Header{}, fmt.Errorf("qcow2 header: header length %d (have %d bytes; want a multiple of 8, at least %d)", h.HeaderLength, len(b), HeaderLength)
	}
	if h.ClusterBits < 9 || h.ClusterBits > 21 {
		return Header{}, fmt.Errorf("qcow2 header: cluster bits %d, want 9 to 21", h.ClusterBits)
	}
	if h.BackingFileOffset != 0 || h.BackingFileSize != 0 {
		return Header{}, errors.New("qcow2 header: the image has a backing file")
	}
	if h.CryptMethod != 0 {
		return Header{}, fmt.Errorf("qcow2 header: encryption method %d is not supported", h.CryptMethod)
	}
	if h.IncompatibleFeatures != 0 {
		return Header{}, fmt.Errorf("qcow2 header: incompatible features 0x%x are set", h.IncompatibleFeatures)
	}
	if h.RefcountOrder > 6 {
		return Header{}, fmt.Errorf("qcow2 header: refcount order %d, want at most 6", h.RefcountOrder)
	}
	if h.Size == 0 || h.Size > MaxSize {
		return Header{}, fmt.Errorf("qcow2 header: virtual size %d, want 1 to %d", h.Size, uint64(MaxSize))
	}
	if need := l1Entries(h.Size, h.ClusterBits); uint64(h.L1Size) < need {
		return Header{}, fmt.Errorf("qcow2 header: l1 table of %d entries, the virtual size needs %d", h.L1Size, need)
	}
	mask := uint64(h.ClusterSize() - 1)
	if h.L1TableOffset == 0 || h.L1TableOffset&mask != 0 {
		return Header{}, fmt.Errorf("qcow2 header: l1 table offset 0x%x is not a cluster boundary after the header", h.L1TableOffset)
	}
	if h.RefcountTableOffset == 0 || h.RefcountTableOffset&mask != 0 {
		return Header{}, fmt.Errorf("qcow2 header: refcount table offset 0x%x is not a cluster boundary after the header", h.RefcountTableOffset)
	}
	if h.RefcountTableClusters == 0 {
		return Header{}, errors.New("qcow2 header: the refcount table has no clusters")
	}
	if h.NbSnapshots != 0 {
		return Header{}, fmt.Errorf("qcow2 header: %d snapshots, want none", h.NbSnapshots)
	}
	return h, nil
}
