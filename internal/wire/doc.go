// Package wire is the data-path protocol between a mobility agent and its process server: a
// version handshake, then a stream of frames, each with a type, a bounded length, a payload and a
// CRC-32C over header and payload. The byte layout is in docs/formats/wire.md; what the messages
// mean is in docs/pipeline.md.
//
// Reading and writing are cheap: a Conn reuses one read buffer and one write buffer, Blocks frames
// are decoded in place (the block data and fingerprints are sub-slices of the frame), and no
// allocation is made per block.
package wire
