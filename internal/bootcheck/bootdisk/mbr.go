package bootdisk

import (
	"encoding/binary"
	"errors"
)

// chs encodes an LBA as the three CHS bytes of a partition entry (255 heads, 63 sectors per
// track; addresses past cylinder 1023 are written as the largest one, as partitioning tools do).
func chs(lba uint32) [3]byte {
	const heads, sectors = 255, 63
	c := lba / (heads * sectors)
	h := (lba / sectors) % heads
	s := lba%sectors + 1
	if c > 1023 {
		c, h, s = 1023, 254, 63
	}
	return [3]byte{byte(h), byte(s) | byte((c>>2)&0xc0), byte(c)}
}

// mbrSector returns a master boot record: boot code (at most 440 bytes), a disk signature, and
// one primary partition of type ptype from startLBA for sectors, marked active (bootable).
func mbrSector(code []byte, signature uint32, ptype byte, startLBA, sectors uint32) ([]byte, error) {
	if len(code) > 440 {
		return nil, errors.New("boot code is longer than 440 bytes")
	}
	s := make([]byte, 512)
	copy(s, code)
	binary.LittleEndian.PutUint32(s[440:], signature)
	e := s[446:462]
	e[0] = 0x80 // active
	first, last := chs(startLBA), chs(startLBA+sectors-1)
	copy(e[1:4], first[:])
	e[4] = ptype
	copy(e[5:8], last[:])
	binary.LittleEndian.PutUint32(e[8:], startLBA)
	binary.LittleEndian.PutUint32(e[12:], sectors)
	s[510], s[511] = 0x55, 0xaa
	return s, nil
}
