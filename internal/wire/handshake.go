package wire

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Protocol versions this package speaks.
const (
	Version1   = 1
	MinVersion = Version1
	MaxVersion = Version1
)

// Magic opens every data-path stream, in both directions.
const Magic = "osr-wire"

// HandshakeSize is the length of a handshake message.
const HandshakeSize = len(Magic) + 4

// Versions is a range of protocol versions a side speaks.
type Versions struct {
	Min, Max uint16
}

// Local is the range this build speaks.
var Local = Versions{Min: MinVersion, Max: MaxVersion}

// AppendHandshake appends the handshake announcing v.
func AppendHandshake(b []byte, v Versions) []byte {
	b = append(b, Magic...)
	b = binary.LittleEndian.AppendUint16(b, v.Min)
	return binary.LittleEndian.AppendUint16(b, v.Max)
}

// ParseHandshake decodes a peer's handshake.
func ParseHandshake(b []byte) (Versions, error) {
	if len(b) != HandshakeSize {
		return Versions{}, fmt.Errorf("handshake is %d bytes, want %d", len(b), HandshakeSize)
	}
	if string(b[:len(Magic)]) != Magic {
		return Versions{}, fmt.Errorf("peer is not an osr data-path endpoint (handshake starts with %q)", b[:len(Magic)])
	}
	v := Versions{Min: binary.LittleEndian.Uint16(b[len(Magic):]), Max: binary.LittleEndian.Uint16(b[len(Magic)+2:])}
	if v.Min == 0 || v.Min > v.Max {
		return Versions{}, fmt.Errorf("peer announces an invalid version range %d-%d", v.Min, v.Max)
	}
	return v, nil
}

// Negotiate returns the highest version both ranges contain.
func Negotiate(local, peer Versions) (uint16, error) {
	hi := min(local.Max, peer.Max)
	lo := max(local.Min, peer.Min)
	if hi < lo {
		return 0, fmt.Errorf("no common wire version: this side speaks %d-%d, the peer %d-%d", local.Min, local.Max, peer.Min, peer.Max)
	}
	return hi, nil
}

// handshake sends ours, reads the peer's and negotiates. Both sides send first, so the exchange
// costs one round trip and both reach the same answer.
func handshake(rw io.ReadWriter, local Versions) (uint16, error) {
	sent := make(chan error, 1)
	go func() { // concurrently, so that unbuffered transports (pipes) cannot deadlock
		_, err := rw.Write(AppendHandshake(make([]byte, 0, HandshakeSize), local))
		sent <- err
	}()
	buf := make([]byte, HandshakeSize)
	_, rerr := io.ReadFull(rw, buf)
	if rerr == nil {
		if err := <-sent; err != nil {
			return 0, fmt.Errorf("send handshake: %w", err)
		}
	}
	if rerr != nil {
		return 0, fmt.Errorf("read handshake: %w", rerr)
	}
	peer, err := ParseHandshake(buf)
	if err != nil {
		return 0, err
	}
	return Negotiate(local, peer)
}
