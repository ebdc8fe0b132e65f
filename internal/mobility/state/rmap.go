package state

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/zeebo/xxh3"

	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// MapMagic starts a replica map file.
const MapMagic = "osr-rmap"

// MapVersion is the version of the replica map format this package writes.
const MapVersion = 1

// Limits of the replica map format.
const (
	MaxDiskName = 255
	MaxPointID  = 128
	MaxDiskSize = 1 << 50 // 1 PiB
)

// Map is the replica map of one disk: Fingerprints[i] is the fingerprint of block i as the
// replica holds it at seq Seq (store point PointID); the zero fingerprint is a block that reads
// as zeros.
type Map struct {
	Disk         string
	Size         int64 // bytes
	Seq          uint64
	PointID      string
	Fingerprints []tracker.Fingerprint
}

// NewMap returns the map of an empty disk (every block zero) at seq 0.
func NewMap(disk string, size int64) *Map {
	return &Map{Disk: disk, Size: size, Fingerprints: make([]tracker.Fingerprint, tracker.Blocks(size))}
}

// Bytes is the memory the map holds.
func (m *Map) Bytes() int64 { return int64(len(m.Fingerprints)) * 16 }

// Clone returns a deep copy.
func (m *Map) Clone() *Map {
	c := *m
	c.Fingerprints = append([]tracker.Fingerprint(nil), m.Fingerprints...)
	return &c
}

func (m *Map) check() error {
	switch {
	case m.Disk == "" || len(m.Disk) > MaxDiskName || !utf8.ValidString(m.Disk):
		return fmt.Errorf("replica map: bad disk name %q", m.Disk)
	case m.Size < 0 || m.Size > MaxDiskSize:
		return fmt.Errorf("replica map: disk size %d out of range", m.Size)
	case len(m.PointID) > MaxPointID || !utf8.ValidString(m.PointID):
		return fmt.Errorf("replica map: bad point id %q", m.PointID)
	case int64(len(m.Fingerprints)) != tracker.Blocks(m.Size):
		return fmt.Errorf("replica map: %d fingerprints for a disk of %d blocks", len(m.Fingerprints), tracker.Blocks(m.Size))
	}
	return nil
}

// Encode returns the map in the replica map format.
func (m *Map) Encode() ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(64 + len(m.Disk) + len(m.PointID) + 16*len(m.Fingerprints))
	if err := m.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write writes the map in the replica map format to w, streaming: no copy of the map is made.
func (m *Map) Write(w io.Writer) error {
	if err := m.check(); err != nil {
		return err
	}
	h := xxh3.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 64<<10)
	b := make([]byte, 0, 64+len(m.Disk)+len(m.PointID))
	b = append(b, MapMagic...)
	b = binary.LittleEndian.AppendUint16(b, MapVersion)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(m.Disk)))
	b = append(b, m.Disk...)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.Size))
	b = binary.LittleEndian.AppendUint64(b, m.Seq)
	b = append(b, byte(len(m.PointID)))
	b = append(b, m.PointID...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(m.Fingerprints)))
	bw.Write(b)
	for i := range m.Fingerprints {
		bw.Write(m.Fingerprints[i][:])
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(binary.LittleEndian.AppendUint64(nil, h.Sum64()))
	return err
}

var errShort = errors.New("replica map: truncated")

// DecodeMap parses a replica map file. Damaged or foreign input gives an error.
func DecodeMap(b []byte) (*Map, error) {
	if len(b) < len(MapMagic)+4+8 {
		return nil, errShort
	}
	if string(b[:len(MapMagic)]) != MapMagic {
		return nil, errors.New("replica map: not a replica map (bad magic)")
	}
	body, sum := b[:len(b)-8], binary.LittleEndian.Uint64(b[len(b)-8:])
	p := body[len(MapMagic):]
	if v := binary.LittleEndian.Uint16(p); v != MapVersion {
		return nil, fmt.Errorf("replica map: version %d, this agent reads version %d", v, MapVersion)
	}
	if xxh3.Hash(body) != sum {
		return nil, errors.New("replica map: checksum mismatch")
	}
	nl := int(binary.LittleEndian.Uint16(p[2:]))
	p = p[4:]
	if len(p) < nl+8+8+1 {
		return nil, errShort
	}
	m := &Map{Disk: string(p[:nl])}
	p = p[nl:]
	size := binary.LittleEndian.Uint64(p)
	m.Seq = binary.LittleEndian.Uint64(p[8:])
	pl := int(p[16])
	p = p[17:]
	if size > MaxDiskSize {
		return nil, fmt.Errorf("replica map: disk size %d out of range", size)
	}
	m.Size = int64(size)
	if len(p) < pl+8 {
		return nil, errShort
	}
	m.PointID = string(p[:pl])
	n := binary.LittleEndian.Uint64(p[pl:])
	p = p[pl+8:]
	if n != uint64(tracker.Blocks(m.Size)) {
		return nil, fmt.Errorf("replica map: %d fingerprints for a disk of %d blocks", n, tracker.Blocks(m.Size))
	}
	if uint64(len(p)) != n*16 {
		return nil, fmt.Errorf("replica map: %d bytes of fingerprints, want %d", len(p), n*16)
	}
	m.Fingerprints = make([]tracker.Fingerprint, n)
	for i := range m.Fingerprints {
		copy(m.Fingerprints[i][:], p[i*16:])
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}
