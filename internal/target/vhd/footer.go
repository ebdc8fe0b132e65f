package vhd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// FooterSize is the size of a VHD footer in bytes.
const FooterSize = 512

// SectorSize is the VHD sector size; disk sizes are whole sectors.
const SectorSize = 512

// MiB is the alignment the seed's cloud requires of a VHD's virtual size.
const MiB = 1 << 20

// Field values of a fixed VHD footer.
const (
	Cookie            = "conectix"
	FeaturesReserved  = 0x00000002 // the reserved feature bit, always set
	FormatVersion     = 0x00010000
	FixedDataOffset   = 0xFFFFFFFFFFFFFFFF // no dynamic header
	DiskTypeFixed     = 2
	DiskTypeDynamic   = 3
	DiskTypeDiffering = 4
)

// Creator and host OS values osr writes.
var (
	CreatorApp     = [4]byte{'o', 's', 'r', ' '}
	HostOSWindows  = [4]byte{'W', 'i', '2', 'k'}
	HostOSMac      = [4]byte{'M', 'a', 'c', ' '}
	CreatorVersion = uint32(0x00010000) // osr's VHD writer version 1.0
)

// epoch is the VHD timestamp origin: 2000-01-01 00:00:00 UTC.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Geometry is a disk's cylinder/head/sector geometry as the VHD footer records it.
type Geometry struct {
	Cylinders       uint16
	Heads           uint8
	SectorsPerTrack uint8
}

// Sectors is the number of sectors the geometry addresses.
func (g Geometry) Sectors() int64 {
	return int64(g.Cylinders) * int64(g.Heads) * int64(g.SectorsPerTrack)
}

// Footer is a fixed VHD's footer. Marshal computes the checksum; ParseFooter verifies it.
type Footer struct {
	Features       uint32
	Version        uint32
	DataOffset     uint64
	Timestamp      uint32 // seconds since 2000-01-01 00:00:00 UTC
	CreatorApp     [4]byte
	CreatorVersion uint32
	CreatorHostOS  [4]byte
	OriginalSize   uint64
	CurrentSize    uint64
	Geometry       Geometry
	DiskType       uint32
	Checksum       uint32 // set by ParseFooter; Marshal computes its own
	UniqueID       [16]byte
	SavedState     uint8
}

// AlignedSize rounds a disk size up to a whole MiB: the virtual size of the fixed VHD that holds
// a disk of that size (the tail beyond the disk reads as zeros).
func AlignedSize(size int64) int64 {
	if size <= 0 {
		return 0
	}
	return (size + MiB - 1) / MiB * MiB
}

// Timestamp converts t to a VHD timestamp (seconds since 2000-01-01 UTC, clamped to the field).
func Timestamp(t time.Time) uint32 {
	s := t.Sub(epoch) / time.Second
	switch {
	case s < 0:
		return 0
	case s > 0xFFFFFFFF:
		return 0xFFFFFFFF
	}
	return uint32(s)
}

// Time converts the footer's timestamp back to a time.
func (f Footer) Time() time.Time { return epoch.Add(time.Duration(f.Timestamp) * time.Second) }

// NewFixedFooter returns the footer of a fixed VHD of size bytes (the virtual size: a positive
// multiple of 512; use AlignedSize for the seed's cloud), created at now, with the given unique
// ID.
func NewFixedFooter(size int64, now time.Time, id [16]byte) (Footer, error) {
	if size <= 0 || size%SectorSize != 0 {
		return Footer{}, fmt.Errorf("vhd: size %d is not a positive multiple of %d", size, SectorSize)
	}
	return Footer{
		Features:       FeaturesReserved,
		Version:        FormatVersion,
		DataOffset:     FixedDataOffset,
		Timestamp:      Timestamp(now),
		CreatorApp:     CreatorApp,
		CreatorVersion: CreatorVersion,
		CreatorHostOS:  HostOSWindows,
		OriginalSize:   uint64(size),
		CurrentSize:    uint64(size),
		Geometry:       ComputeGeometry(size),
		DiskType:       DiskTypeFixed,
		UniqueID:       id,
	}, nil
}

// ComputeGeometry returns the CHS geometry of a disk of size bytes by the VHD specification's
// algorithm: sectors beyond 65535×16×255 are capped, and the geometry addresses at most the
// disk's sectors (it may address fewer; readers that honour the footer's size use that).
func ComputeGeometry(size int64) Geometry {
	total := size / SectorSize
	if total > 65535*16*255 {
		total = 65535 * 16 * 255
	}
	var spt, heads, cth int64
	if total >= 65535*16*63 {
		spt, heads = 255, 16
		cth = total / spt
	} else {
		spt = 17
		cth = total / spt
		heads = (cth + 1023) / 1024
		if heads < 4 {
			heads = 4
		}
		if cth >= heads*1024 || heads > 16 {
			spt, heads = 31, 16
			cth = total / spt
		}
		if cth >= heads*1024 {
			spt, heads = 63, 16
			cth = total / spt
		}
	}
	return Geometry{Cylinders: uint16(cth / heads), Heads: uint8(heads), SectorsPerTrack: uint8(spt)}
}

// Marshal encodes the footer in its 512 big-endian bytes with a fresh checksum.
func (f Footer) Marshal() []byte {
	b := make([]byte, FooterSize)
	copy(b[0:8], Cookie)
	be := binary.BigEndian
	be.PutUint32(b[8:], f.Features)
	be.PutUint32(b[12:], f.Version)
	be.PutUint64(b[16:], f.DataOffset)
	be.PutUint32(b[24:], f.Timestamp)
	copy(b[28:32], f.CreatorApp[:])
	be.PutUint32(b[32:], f.CreatorVersion)
	copy(b[36:40], f.CreatorHostOS[:])
	be.PutUint64(b[40:], f.OriginalSize)
	be.PutUint64(b[48:], f.CurrentSize)
	be.PutUint16(b[56:], f.Geometry.Cylinders)
	b[58] = f.Geometry.Heads
	b[59] = f.Geometry.SectorsPerTrack
	be.PutUint32(b[60:], f.DiskType)
	copy(b[68:84], f.UniqueID[:])
	b[84] = f.SavedState
	be.PutUint32(b[64:], checksum(b))
	return b
}

// checksum is the one's complement of the sum of the footer's bytes, its checksum field skipped.
func checksum(b []byte) uint32 {
	var sum uint32
	for i, c := range b[:FooterSize] {
		if i >= 64 && i < 68 {
			continue
		}
		sum += uint32(c)
	}
	return ^sum
}

// ErrNotVHD is wrapped by ParseFooter's error when the bytes do not start with the VHD cookie.
var ErrNotVHD = errors.New("not a vhd footer")

// ParseFooter decodes and checks the footer of a fixed VHD. It accepts only what a reader of a
// fixed disk can use: the cookie, a valid checksum, format version 1.0, disk type fixed, no
// dynamic header, and a current size that is a positive multiple of 512.
func ParseFooter(b []byte) (Footer, error) {
	if len(b) != FooterSize {
		return Footer{}, fmt.Errorf("vhd footer: %d bytes, want %d", len(b), FooterSize)
	}
	if string(b[0:8]) != Cookie {
		return Footer{}, fmt.Errorf("vhd footer: cookie %q: %w", b[0:8], ErrNotVHD)
	}
	be := binary.BigEndian
	f := Footer{
		Features:       be.Uint32(b[8:]),
		Version:        be.Uint32(b[12:]),
		DataOffset:     be.Uint64(b[16:]),
		Timestamp:      be.Uint32(b[24:]),
		CreatorVersion: be.Uint32(b[32:]),
		OriginalSize:   be.Uint64(b[40:]),
		CurrentSize:    be.Uint64(b[48:]),
		Geometry: Geometry{
			Cylinders:       be.Uint16(b[56:]),
			Heads:           b[58],
			SectorsPerTrack: b[59],
		},
		DiskType:   be.Uint32(b[60:]),
		Checksum:   be.Uint32(b[64:]),
		SavedState: b[84],
	}
	copy(f.CreatorApp[:], b[28:32])
	copy(f.CreatorHostOS[:], b[36:40])
	copy(f.UniqueID[:], b[68:84])
	if sum := checksum(b); sum != f.Checksum {
		return Footer{}, fmt.Errorf("vhd footer: checksum 0x%08x, computed 0x%08x", f.Checksum, sum)
	}
	if f.Version != FormatVersion {
		return Footer{}, fmt.Errorf("vhd footer: format version 0x%08x, want 0x%08x", f.Version, FormatVersion)
	}
	if f.DiskType != DiskTypeFixed {
		return Footer{}, fmt.Errorf("vhd footer: disk type %d is not fixed (%d)", f.DiskType, DiskTypeFixed)
	}
	if f.DataOffset != FixedDataOffset {
		return Footer{}, fmt.Errorf("vhd footer: data offset 0x%x, want 0x%x for a fixed disk", f.DataOffset, uint64(FixedDataOffset))
	}
	if f.CurrentSize == 0 || f.CurrentSize%SectorSize != 0 || f.CurrentSize > 1<<62 {
		return Footer{}, fmt.Errorf("vhd footer: current size %d is not a positive multiple of %d", f.CurrentSize, SectorSize)
	}
	if f.SavedState > 1 {
		return Footer{}, fmt.Errorf("vhd footer: saved state %d, want 0 or 1", f.SavedState)
	}
	return f, nil
}
