package wire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
)

// Options tune a Conn.
type Options struct {
	// MaxPayload bounds the payload of frames read; 0 means DefaultMaxPayload.
	MaxPayload int
	// Versions this side speaks; zero means Local.
	Versions Versions
	// BufferSize of the buffered reader and writer; 0 means 64 KiB.
	BufferSize int
}

// Conn reads and writes frames over a byte stream. One goroutine may read while others write:
// writes are serialized by the Conn, reads are not (a single reader is expected).
type Conn struct {
	rw      io.ReadWriter
	r       *bufio.Reader
	max     int
	local   Versions
	version uint16
	rbuf    []byte

	wmu    sync.Mutex
	w      *bufio.Writer
	wbuf   []byte
	crc    [4]byte
	stream *StreamConn // under rw, or nil: held around each write
}

// NewConn wraps rw. Call Handshake before any frame is read or written.
func NewConn(rw io.ReadWriter, opts Options) *Conn {
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = DefaultMaxPayload
	}
	if opts.Versions == (Versions{}) {
		opts.Versions = Local
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = 64 << 10
	}
	return &Conn{rw: rw, r: bufio.NewReaderSize(rw, opts.BufferSize), w: bufio.NewWriterSize(rw, opts.BufferSize),
		max: opts.MaxPayload, local: opts.Versions, stream: streamUnder(rw)}
}

// hold gathers the writes to the stream under the Conn until the returned release, which
// returns err or else the error of writing what was gathered. Caller holds c.wmu.
func (c *Conn) hold() func(err error) error {
	if c.stream == nil {
		return func(err error) error { return err }
	}
	c.stream.hold()
	return func(err error) error {
		if rerr := c.stream.release(); err == nil {
			err = rerr
		}
		return err
	}
}

// Handshake exchanges versions with the peer and returns the one both speak, or an error naming
// both ranges when there is none. Both sides send before they read.
func (c *Conn) Handshake() (uint16, error) {
	v, err := handshake(struct {
		io.Reader
		io.Writer
	}{c.r, c.rw}, c.local)
	if err != nil {
		return 0, err
	}
	c.version = v
	return v, nil
}

// Version is the negotiated protocol version (0 before Handshake).
func (c *Conn) Version() uint16 { return c.version }

// ReadFrame reads and verifies the next frame. The frame's slices are valid until the next call.
// A checksum mismatch returns ErrChecksum; the stream cannot be trusted after any error.
func (c *Conn) ReadFrame() (Frame, error) {
	if cap(c.rbuf) < HeaderSize {
		c.rbuf = make([]byte, 0, 64<<10)
	}
	h := c.rbuf[:HeaderSize]
	if _, err := io.ReadFull(c.r, h); err != nil {
		return Frame{}, err
	}
	t, n, err := parseHeader(h, c.max)
	if err != nil {
		return Frame{}, err
	}
	total := HeaderSize + n + TrailerSize
	if cap(c.rbuf) < total {
		nb := make([]byte, total, max(total, 2*cap(c.rbuf)))
		copy(nb, h)
		c.rbuf = nb
	}
	raw := c.rbuf[:total]
	if _, err := io.ReadFull(c.r, raw[HeaderSize:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, fmt.Errorf("read %s frame: %w", t, err)
	}
	if err := checkSum(raw); err != nil {
		return Frame{}, fmt.Errorf("%s frame: %w", t, err)
	}
	return Frame{Type: t, Payload: raw[HeaderSize : HeaderSize+n], Raw: raw}, nil
}

// Message is anything that can be sent as a frame.
type Message interface {
	Type() Type
	// AppendPayload appends the encoded payload to b.
	AppendPayload(b []byte) ([]byte, error)
}

// Send encodes m into the Conn's reused buffer, writes it as one frame and flushes.
func (c *Conn) Send(m Message) error {
	return c.send(m, true)
}

// Queue is Send without the flush: call Flush after a batch.
func (c *Conn) Queue(m Message) error {
	return c.send(m, false)
}

// tailed is a message whose payload ends in a large byte slice (block data) that the Conn writes
// without copying it into its buffer: the frame on the wire is the same.
type tailed interface {
	// appendHead appends the payload up to the tail, and returns the tail.
	appendHead(b []byte) ([]byte, []byte, error)
}

func (c *Conn) send(m Message, flush bool) (err error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	release := c.hold()
	defer func() { err = release(err) }()
	b := append(c.wbuf[:0], byte(m.Type()), 0, 0, 0, 0, 0, 0, 0)
	if t, ok := m.(tailed); ok {
		return c.sendTailed(m.Type(), t, b, flush)
	}
	b, err = m.AppendPayload(b)
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.Type(), err)
	}
	if n := len(b) - HeaderSize; n > c.max {
		return fmt.Errorf("%s frame of %d bytes exceeds the limit of %d bytes", m.Type(), n, c.max)
	}
	binary.LittleEndian.PutUint32(b[4:8], uint32(len(b)-HeaderSize))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	c.wbuf = b
	if _, err := c.w.Write(b); err != nil {
		return err
	}
	if flush {
		return c.w.Flush()
	}
	return nil
}

func (c *Conn) sendTailed(typ Type, m tailed, b []byte, flush bool) error {
	b, tail, err := m.appendHead(b)
	if err != nil {
		return fmt.Errorf("encode %s: %w", typ, err)
	}
	if n := len(b) - HeaderSize + len(tail); n > c.max {
		return fmt.Errorf("%s frame of %d bytes exceeds the limit of %d bytes", typ, n, c.max)
	}
	binary.LittleEndian.PutUint32(b[4:8], uint32(len(b)-HeaderSize+len(tail)))
	sum := crc32.Update(crc32.Update(0, castagnoli, b), castagnoli, tail)
	c.wbuf = b
	if _, err := c.w.Write(b); err != nil {
		return err
	}
	if _, err := c.w.Write(tail); err != nil {
		return err
	}
	if _, err := c.w.Write(binary.LittleEndian.AppendUint32(c.crc[:0], sum)); err != nil {
		return err
	}
	if flush {
		return c.w.Flush()
	}
	return nil
}

// WriteRaw writes an already encoded frame (for example one read from a cache) after checking it.
func (c *Conn) WriteRaw(raw []byte) error {
	if _, n, err := ParseFrame(raw, c.max); err != nil {
		return err
	} else if n != len(raw) {
		return fmt.Errorf("raw frame has %d trailing bytes", len(raw)-n)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	release := c.hold()
	if _, err := c.w.Write(raw); err != nil {
		return release(err)
	}
	return release(c.w.Flush())
}

// Flush writes what Queue buffered.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	release := c.hold()
	return release(c.w.Flush())
}
