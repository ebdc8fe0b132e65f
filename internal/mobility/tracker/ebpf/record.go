package ebpf

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// rangeSize is the size of a range record of the ring buffer (struct range in bpf/track.c):
// dev u32, pad u32, first u64, last u64, little-endian (the program is built for bpfel).
const rangeSize = 24

// decodeRange decodes a range record: the whole disk and its blocks [first, last].
func decodeRange(b []byte) (dev uint32, first, last int64, err error) {
	if len(b) < rangeSize {
		return 0, 0, 0, fmt.Errorf("ebpf tracker: ring buffer record of %d bytes, want %d", len(b), rangeSize)
	}
	dev = binary.LittleEndian.Uint32(b[0:])
	f, l := binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[16:])
	if l < f || l >= 1<<62 {
		return 0, 0, 0, errors.New("ebpf tracker: ring buffer record with a bad block range")
	}
	return dev, int64(f), int64(l), nil
}
