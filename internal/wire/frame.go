package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Type is a frame's message type.
type Type uint8

// Frame types. The numbers are part of the format: never renumber.
const (
	TypeHello               Type = 1
	TypeWelcome             Type = 2
	TypeBeginPoint          Type = 3
	TypeBlocks              Type = 4
	TypeZero                Type = 5
	TypeEndPoint            Type = 6
	TypeDurable             Type = 7
	TypeCommitted           Type = 8
	TypeFingerprintsRequest Type = 9
	TypeFingerprints        Type = 10
	TypeStatus              Type = 11
	TypePing                Type = 12
	TypePong                Type = 13
	TypeError               Type = 14
	maxType                      = TypeError
)

var typeNames = [...]string{"", "Hello", "Welcome", "BeginPoint", "Blocks", "Zero", "EndPoint", "Durable",
	"Committed", "Fingerprints?", "Fingerprints", "Status", "Ping", "Pong", "Error"}

func (t Type) String() string {
	if t >= 1 && t <= maxType {
		return typeNames[t]
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// Frame layout sizes.
const (
	HeaderSize  = 8
	TrailerSize = 4
	// Overhead is what a frame adds to its payload.
	Overhead = HeaderSize + TrailerSize
	// DefaultMaxPayload bounds a frame's payload unless a Conn is given another limit.
	DefaultMaxPayload = 8 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrChecksum is returned for a frame whose CRC-32C does not match.
var ErrChecksum = errors.New("frame checksum mismatch")

// Frame is one decoded frame. Payload and Raw alias the reader's buffer: they are valid until the
// next read from the same Conn.
type Frame struct {
	Type    Type
	Payload []byte
	Raw     []byte // the whole frame as it was on the wire: header, payload, checksum
}

// AppendFrame appends a frame of type t with payload p.
func AppendFrame(b []byte, t Type, p []byte) []byte {
	start := len(b)
	b = append(b, byte(t), 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
	b = append(b, p...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// parseHeader checks a frame header and returns the type and payload length.
func parseHeader(h []byte, maxPayload int) (Type, int, error) {
	t := Type(h[0])
	if t == 0 || t > maxType {
		return 0, 0, fmt.Errorf("unknown frame type %d", h[0])
	}
	if h[1] != 0 || h[2] != 0 || h[3] != 0 {
		return 0, 0, fmt.Errorf("frame header has reserved bits set (% x)", h[1:4])
	}
	n := binary.LittleEndian.Uint32(h[4:8])
	if uint64(n) > uint64(maxPayload) {
		return 0, 0, fmt.Errorf("frame of %d bytes exceeds the limit of %d bytes", n, maxPayload)
	}
	return t, int(n), nil
}

// checkSum verifies the trailer of a complete frame.
func checkSum(raw []byte) error {
	body := raw[:len(raw)-TrailerSize]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(raw[len(body):]) {
		return ErrChecksum
	}
	return nil
}

// ParseFrame decodes and verifies the frame at the start of b (as a cache file holds them) and
// returns it with its length. Payload and Raw alias b. maxPayload 0 means DefaultMaxPayload.
func ParseFrame(b []byte, maxPayload int) (Frame, int, error) {
	return parseFrame(b, maxPayload, true)
}

// ParseCheckedFrame is ParseFrame without the checksum: for bytes that ParseFrame or ReadFrame
// accepted before and that stayed in memory since. It still checks the header and the length.
func ParseCheckedFrame(b []byte, maxPayload int) (Frame, int, error) {
	return parseFrame(b, maxPayload, false)
}

func parseFrame(b []byte, maxPayload int, verify bool) (Frame, int, error) {
	if maxPayload <= 0 {
		maxPayload = DefaultMaxPayload
	}
	if len(b) < HeaderSize {
		return Frame{}, 0, fmt.Errorf("truncated frame header: %d bytes", len(b))
	}
	t, n, err := parseHeader(b, maxPayload)
	if err != nil {
		return Frame{}, 0, err
	}
	total := HeaderSize + n + TrailerSize
	if len(b) < total {
		return Frame{}, 0, fmt.Errorf("truncated %s frame: %d of %d bytes", t, len(b), total)
	}
	raw := b[:total:total]
	if verify {
		if err := checkSum(raw); err != nil {
			return Frame{}, 0, err
		}
	}
	return Frame{Type: t, Payload: raw[HeaderSize : HeaderSize+n], Raw: raw}, total, nil
}
