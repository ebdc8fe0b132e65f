package store

import (
	"encoding/binary"
	"fmt"

	"github.com/opensiterecovery/osr/internal/crypto"
)

// A pack is a sequence of stored blobs followed by its sealed header and the header's length as a
// little-endian uint32. The header lists the blobs in order, so the index can be rebuilt from packs.

const (
	packHeaderMagic = "OSRP"
	packHeaderAD    = "osr pack header v1"
	maxPackHeader   = 16 << 20
)

// packEntry describes one blob in a pack.
type packEntry struct {
	Type      BlobType
	ID        ID
	Offset    uint32
	Length    uint32 // stored length
	RawLength uint32 // plaintext length
}

func encodePackHeader(entries []packEntry) []byte {
	b := make([]byte, 0, 8+len(entries)*(crypto.IDSize+8))
	b = append(b, packHeaderMagic...)
	b = append(b, 1)
	b = appendUvarint(b, uint64(len(entries)))
	for _, e := range entries {
		b = append(b, byte(e.Type))
		b = append(b, e.ID[:]...)
		b = appendUvarint(b, uint64(e.Length))
		b = appendUvarint(b, uint64(e.RawLength))
	}
	return b
}

// decodePackHeader parses a header plaintext; offsets are derived from the lengths, and the blobs
// must end exactly at dataLen, where the sealed header begins.
func decodePackHeader(b []byte, dataLen uint64) ([]packEntry, error) {
	d := &decoder{b: b, what: "pack header"}
	if string(d.bytes(4)) != packHeaderMagic {
		return nil, corruptf("pack header: bad magic")
	}
	if v := d.byte1(); d.err == nil && v != 1 {
		return nil, fmt.Errorf("pack header version %d is newer than this osr supports (1)", v)
	}
	n := d.uvarint()
	if n > uint64(len(d.b))/(crypto.IDSize+3) {
		return nil, corruptf("pack header: %d entries cannot fit", n)
	}
	entries := make([]packEntry, 0, n)
	var off uint64
	for i := uint64(0); i < n && d.err == nil; i++ {
		t := BlobType(d.byte1())
		if t != DataBlob && t != TreeBlob {
			d.fail(fmt.Sprintf("unknown blob type %d", t))
		}
		id := d.id()
		l, raw := d.uvarint(), d.uvarint()
		if l < crypto.Overhead+1 || l > dataLen-off || raw > 4*maxBlobBytes {
			d.fail("blob length out of range")
			break
		}
		entries = append(entries, packEntry{Type: t, ID: id, Offset: uint32(off), Length: uint32(l), RawLength: uint32(raw)})
		off += l
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	if off != dataLen {
		return nil, corruptf("pack header: blobs cover %d bytes, pack data has %d", off, dataLen)
	}
	return entries, nil
}

// sealPackTail appends the sealed header and its length to a pack's data.
func sealPackTail(keys *crypto.Keys, data []byte, entries []packEntry) []byte {
	start := len(data)
	data = keys.Seal(data, encodePackHeader(entries), []byte(packHeaderAD))
	return binary.LittleEndian.AppendUint32(data, uint32(len(data)-start))
}

// readPackHeader decodes the header from a whole pack.
func readPackHeader(keys *crypto.Keys, pack []byte) ([]packEntry, error) {
	if len(pack) < 4 {
		return nil, corruptf("pack of %d bytes is truncated", len(pack))
	}
	hl := uint64(binary.LittleEndian.Uint32(pack[len(pack)-4:]))
	if hl > maxPackHeader || hl+4 > uint64(len(pack)) {
		return nil, corruptf("pack header length %d out of range", hl)
	}
	dataLen := uint64(len(pack)) - 4 - hl
	plain, err := keys.Open(nil, pack[dataLen:len(pack)-4], []byte(packHeaderAD))
	if err != nil {
		return nil, fmt.Errorf("%w: pack header: %w", ErrCorrupt, err)
	}
	return decodePackHeader(plain, dataLen)
}
