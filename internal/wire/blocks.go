package wire

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/zeebo/xxh3"
)

// Block geometry of the data path.
const (
	BlockSize         = 4096
	FingerprintSize   = 16
	MaxBlocksPerFrame = 256     // 1 MiB of data per Blocks frame
	MaxFingerprints   = 1 << 16 // per Fingerprints? request (1 MiB answer)
	// MaxDiskBlocks bounds block numbers (a 4 EiB disk).
	MaxDiskBlocks = 1 << 50
)

// Fingerprint is XXH3-128 of a 4 KiB block in big-endian byte order, the store's fingerprint.
func Fingerprint(block []byte) [FingerprintSize]byte {
	return xxh3.Hash128(block).Bytes()
}

// Blocks carries N consecutive blocks of one disk: agent → PS. Data and Fingerprints alias the
// frame they were decoded from.
type Blocks struct {
	Seq          uint64
	Disk         string
	First        uint64 // block number of the first block
	Fingerprints []byte // N × 16 bytes
	Data         []byte // N × 4096 bytes
}

// N is the number of blocks.
func (m *Blocks) N() int { return len(m.Data) / BlockSize }

// Block returns the data of block i (0-based within the frame).
func (m *Blocks) Block(i int) []byte { return m.Data[i*BlockSize : (i+1)*BlockSize] }

// FingerprintOf returns the fingerprint of block i as sent.
func (m *Blocks) FingerprintOf(i int) []byte {
	return m.Fingerprints[i*FingerprintSize : (i+1)*FingerprintSize]
}

// SetFingerprints fills Fingerprints (reusing its storage) from Data.
func (m *Blocks) SetFingerprints() {
	n := m.N()
	if cap(m.Fingerprints) < n*FingerprintSize {
		m.Fingerprints = make([]byte, n*FingerprintSize)
	}
	m.Fingerprints = m.Fingerprints[:n*FingerprintSize]
	for i := 0; i < n; i++ {
		fp := Fingerprint(m.Block(i))
		copy(m.Fingerprints[i*FingerprintSize:], fp[:])
	}
}

// ErrFingerprint is returned by Verify when a block does not match its fingerprint.
var ErrFingerprint = errors.New("block fingerprint mismatch")

// Verify recomputes every block's fingerprint and compares it with the one sent.
func (m *Blocks) Verify() error {
	for i := 0; i < m.N(); i++ {
		fp := Fingerprint(m.Block(i))
		if string(fp[:]) != string(m.FingerprintOf(i)) {
			return fmt.Errorf("disk %s block %d: %w", m.Disk, m.First+uint64(i), ErrFingerprint)
		}
	}
	return nil
}

func (Blocks) Type() Type { return TypeBlocks }

// AppendPayload encodes: uvarint seq, uvarint len + disk, uvarint first, uvarint n, fingerprints,
// data.
func (m Blocks) AppendPayload(b []byte) ([]byte, error) {
	b, data, err := m.appendHead(b)
	if err != nil {
		return b, err
	}
	return append(b, data...), nil
}

// appendHead encodes the payload up to the data, and returns the data: a Conn writes it without
// copying it.
func (m Blocks) appendHead(b []byte) ([]byte, []byte, error) {
	n := len(m.Data) / BlockSize
	if n == 0 || n > MaxBlocksPerFrame || len(m.Data) != n*BlockSize {
		return b, nil, fmt.Errorf("blocks: %d bytes of data is not 1 to %d whole blocks", len(m.Data), MaxBlocksPerFrame)
	}
	if len(m.Fingerprints) != n*FingerprintSize {
		return b, nil, fmt.Errorf("blocks: %d fingerprint bytes for %d blocks", len(m.Fingerprints), n)
	}
	b = binary.AppendUvarint(b, m.Seq)
	b = appendString(b, m.Disk)
	b = binary.AppendUvarint(b, m.First)
	b = binary.AppendUvarint(b, uint64(n))
	return append(b, m.Fingerprints...), m.Data, nil
}

// Decode parses a Blocks payload in place: Data and Fingerprints alias p.
func (m *Blocks) Decode(p []byte) error {
	d := decoder{b: p, what: "blocks"}
	m.Seq = d.uvarint()
	m.Disk = d.name()
	m.First = d.uvarint()
	n := d.uvarint()
	if d.err == nil && (n == 0 || n > MaxBlocksPerFrame) {
		d.fail(fmt.Sprintf("%d blocks (want 1 to %d)", n, MaxBlocksPerFrame))
	}
	if d.err == nil && (m.First >= MaxDiskBlocks || m.First+n > MaxDiskBlocks) {
		d.fail(fmt.Sprintf("block %d is beyond any disk", m.First))
	}
	m.Fingerprints = d.bytes(int(n) * FingerprintSize)
	m.Data = d.bytes(int(n) * BlockSize)
	if err := d.done(); err != nil {
		*m = Blocks{}
		return err
	}
	if m.Seq == 0 {
		*m = Blocks{}
		return errors.New("blocks: seq 0")
	}
	return nil
}

// Zero says blocks First..First+Count-1 of a disk now read as zeros: agent → PS.
type Zero struct {
	Seq   uint64
	Disk  string
	First uint64
	Count uint64
}

func (Zero) Type() Type { return TypeZero }

func (m Zero) AppendPayload(b []byte) ([]byte, error) {
	b = binary.AppendUvarint(b, m.Seq)
	b = appendString(b, m.Disk)
	b = binary.AppendUvarint(b, m.First)
	return binary.AppendUvarint(b, m.Count), nil
}

// Decode parses a Zero payload.
func (m *Zero) Decode(p []byte) error {
	d := decoder{b: p, what: "zero"}
	*m = Zero{Seq: d.uvarint(), Disk: d.name(), First: d.uvarint(), Count: d.uvarint()}
	if err := d.done(); err != nil {
		*m = Zero{}
		return err
	}
	if m.Seq == 0 || m.Count == 0 || m.First >= MaxDiskBlocks || m.Count > MaxDiskBlocks-m.First {
		err := fmt.Errorf("zero: seq %d, blocks %d+%d out of range", m.Seq, m.First, m.Count)
		*m = Zero{}
		return err
	}
	return nil
}

// Durable says a point is complete and fsynced in the PS cache: PS → agent.
type Durable struct{ Seq uint64 }

func (Durable) Type() Type { return TypeDurable }

func (m Durable) AppendPayload(b []byte) ([]byte, error) { return binary.AppendUvarint(b, m.Seq), nil }

// Decode parses a Durable payload.
func (m *Durable) Decode(p []byte) error {
	d := decoder{b: p, what: "durable"}
	m.Seq = d.uvarint()
	if err := d.done(); err != nil {
		return err
	}
	if m.Seq == 0 {
		return errors.New("durable: seq 0")
	}
	return nil
}

// FingerprintsRequest asks for the replica's fingerprints of Count blocks from First: agent → PS.
type FingerprintsRequest struct {
	Disk  string
	First uint64
	Count uint64
}

func (FingerprintsRequest) Type() Type { return TypeFingerprintsRequest }

func (m FingerprintsRequest) AppendPayload(b []byte) ([]byte, error) {
	b = appendString(b, m.Disk)
	b = binary.AppendUvarint(b, m.First)
	return binary.AppendUvarint(b, m.Count), nil
}

// Decode parses a Fingerprints? payload.
func (m *FingerprintsRequest) Decode(p []byte) error {
	d := decoder{b: p, what: "fingerprints request"}
	*m = FingerprintsRequest{Disk: d.name(), First: d.uvarint(), Count: d.uvarint()}
	if err := d.done(); err != nil {
		*m = FingerprintsRequest{}
		return err
	}
	if m.Count == 0 || m.Count > MaxFingerprints || m.First >= MaxDiskBlocks {
		err := fmt.Errorf("fingerprints request: %d blocks from %d (want 1 to %d)", m.Count, m.First, MaxFingerprints)
		*m = FingerprintsRequest{}
		return err
	}
	return nil
}

// Fingerprints answers a request: PS → agent. Fingerprints holds Count × 16 bytes; it aliases the
// frame it was decoded from. Point is the store point they were read from.
type Fingerprints struct {
	Disk         string
	First        uint64
	Point        string
	Fingerprints []byte
}

func (Fingerprints) Type() Type { return TypeFingerprints }

func (m Fingerprints) AppendPayload(b []byte) ([]byte, error) {
	n := len(m.Fingerprints) / FingerprintSize
	if n == 0 || n > MaxFingerprints || len(m.Fingerprints) != n*FingerprintSize {
		return b, fmt.Errorf("fingerprints: %d bytes is not 1 to %d fingerprints", len(m.Fingerprints), MaxFingerprints)
	}
	b = appendString(b, m.Disk)
	b = binary.AppendUvarint(b, m.First)
	b = appendString(b, m.Point)
	b = binary.AppendUvarint(b, uint64(n))
	return append(b, m.Fingerprints...), nil
}

// Decode parses a Fingerprints payload in place.
func (m *Fingerprints) Decode(p []byte) error {
	d := decoder{b: p, what: "fingerprints"}
	m.Disk = d.name()
	m.First = d.uvarint()
	m.Point = d.str()
	n := d.uvarint()
	if d.err == nil && (n == 0 || n > MaxFingerprints) {
		d.fail(fmt.Sprintf("%d fingerprints (want 1 to %d)", n, MaxFingerprints))
	}
	m.Fingerprints = d.bytes(int(n) * FingerprintSize)
	if err := d.done(); err != nil {
		*m = Fingerprints{}
		return err
	}
	return nil
}

// Ping asks for a Pong with the same nonce; either side may send it.
type Ping struct{ Nonce uint64 }

// Pong answers a Ping.
type Pong struct{ Nonce uint64 }

func (Ping) Type() Type { return TypePing }
func (Pong) Type() Type { return TypePong }

func (m Ping) AppendPayload(b []byte) ([]byte, error) {
	return binary.LittleEndian.AppendUint64(b, m.Nonce), nil
}
func (m Pong) AppendPayload(b []byte) ([]byte, error) {
	return binary.LittleEndian.AppendUint64(b, m.Nonce), nil
}

// Decode parses a Ping payload.
func (m *Ping) Decode(p []byte) error {
	if len(p) != 8 {
		return fmt.Errorf("ping: payload of %d bytes, want 8", len(p))
	}
	m.Nonce = binary.LittleEndian.Uint64(p)
	return nil
}

// Decode parses a Pong payload.
func (m *Pong) Decode(p []byte) error {
	if len(p) != 8 {
		return fmt.Errorf("pong: payload of %d bytes, want 8", len(p))
	}
	m.Nonce = binary.LittleEndian.Uint64(p)
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads uvarints and strings from a payload; the first failure sticks.
type decoder struct {
	b    []byte
	what string
	err  error
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: %s", d.what, msg)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated or overlong varint")
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
		d.fail(fmt.Sprintf("truncated: want %d bytes, have %d", n, len(d.b)))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err == nil && n > MaxNameLen {
		d.fail(fmt.Sprintf("string of %d bytes (at most %d)", n, MaxNameLen))
		return ""
	}
	return string(d.bytes(int(n)))
}

// name reads a string that must be a valid disk name.
func (d *decoder) name() string {
	s := d.str()
	if d.err == nil {
		if err := ValidName(s); err != nil {
			d.fail("disk: " + err.Error())
		}
	}
	return s
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	return d.err
}
