package wire

import (
	"bufio"
	"net"
	"sync"
)

// StreamBufferSize is the size of a StreamConn's read and write buffers.
const StreamBufferSize = 256 << 10

// StreamConn is the connection under TLS on the data path. TLS writes every record (16 KiB of
// data at most) with its own Write and reads the socket a record at a time, so that a 1 MiB
// frame would cost 64 system calls and 64 trips through the TCP stack on each side. A StreamConn
// reads ahead into a buffer, and while a Conn holds it (between hold and release, around each
// write of frames) it gathers the records and writes them StreamBufferSize at a time. Outside a
// hold, writes go straight through (the TLS handshake, alerts).
type StreamConn struct {
	net.Conn
	r *bufio.Reader

	mu    sync.Mutex
	holds int
	buf   []byte
}

// NewStreamConn wraps c.
func NewStreamConn(c net.Conn) *StreamConn {
	return &StreamConn{Conn: c, r: bufio.NewReaderSize(c, StreamBufferSize)}
}

// NetConn returns the wrapped connection (for socket options).
func (s *StreamConn) NetConn() net.Conn { return s.Conn }

// Read reads from the read-ahead buffer.
func (s *StreamConn) Read(p []byte) (int, error) { return s.r.Read(p) }

// Write writes p, or within a hold adds it to the buffer (writing the buffer when it is full).
func (s *StreamConn) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holds == 0 {
		if err := s.flushLocked(); err != nil {
			return 0, err
		}
		return s.Conn.Write(p)
	}
	if len(s.buf)+len(p) > StreamBufferSize {
		if err := s.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) >= StreamBufferSize {
		return s.Conn.Write(p)
	}
	if s.buf == nil {
		s.buf = make([]byte, 0, StreamBufferSize)
	}
	s.buf = append(s.buf, p...)
	return len(p), nil
}

func (s *StreamConn) flushLocked() error {
	if len(s.buf) == 0 {
		return nil
	}
	_, err := s.Conn.Write(s.buf)
	s.buf = s.buf[:0]
	return err
}

// hold starts gathering writes.
func (s *StreamConn) hold() {
	s.mu.Lock()
	s.holds++
	s.mu.Unlock()
}

// release ends a hold; the last one writes what was gathered and returns the write's error.
func (s *StreamConn) release() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holds--
	if s.holds > 0 {
		return nil
	}
	return s.flushLocked()
}

// streamUnder finds a StreamConn under rw (rw itself, or what a TLS connection wraps), or nil.
func streamUnder(rw any) *StreamConn {
	type netConner interface{ NetConn() net.Conn }
	for rw != nil {
		if s, ok := rw.(*StreamConn); ok {
			return s
		}
		nc, ok := rw.(netConner)
		if !ok {
			return nil
		}
		rw = nc.NetConn()
	}
	return nil
}
