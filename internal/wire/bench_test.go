package wire

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkSend: encoding and writing full Blocks frames (1 MiB of blocks each).
func BenchmarkSend(b *testing.B) {
	m := testBlocks(MaxBlocksPerFrame, 0)
	c := NewConn(rw{nil, io.Discard}, Options{})
	b.SetBytes(int64(len(m.Data)))
	for b.Loop() {
		if err := c.Send(&m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReceive: reading, checking, decoding and verifying every block's fingerprint.
func BenchmarkReceive(b *testing.B) {
	m := testBlocks(MaxBlocksPerFrame, 0)
	var buf bytes.Buffer
	if err := NewConn(rw{nil, &buf}, Options{}).Send(m); err != nil {
		b.Fatal(err)
	}
	frame := buf.Bytes()
	r := bytes.NewReader(frame)
	c := NewConn(rw{r, io.Discard}, Options{})
	var got Blocks
	b.SetBytes(int64(len(m.Data)))
	for b.Loop() {
		r.Reset(frame)
		c.r.Reset(r)
		f, err := c.ReadFrame()
		if err != nil {
			b.Fatal(err)
		}
		if err := got.Decode(f.Payload); err != nil {
			b.Fatal(err)
		}
		if err := got.Verify(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFingerprints: what an agent pays to fingerprint the blocks it sends.
func BenchmarkFingerprints(b *testing.B) {
	m := testBlocks(MaxBlocksPerFrame, 0)
	b.SetBytes(int64(len(m.Data)))
	for b.Loop() {
		m.SetFingerprints()
	}
}
