package vhd

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
)

func hexs(b []byte) string { return hex.EncodeToString(b) }

func hex32(b []byte) string { return fmt.Sprintf("%08x", binary.BigEndian.Uint32(b)) }

// minus1 returns the 4-byte big-endian value of b less one (the checksum after one byte of the
// footer went from 0 to 1).
func minus1(b []byte) []byte {
	out := make([]byte, 4)
	binary.BigEndian.PutUint32(out, binary.BigEndian.Uint32(b)-1)
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
