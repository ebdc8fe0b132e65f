package store

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress"
	"github.com/klauspost/compress/zstd"

	"github.com/opensiterecovery/osr/internal/crypto"
)

// Blob payload modes: the first plaintext byte under the encryption.
const (
	modeRaw  = 0
	modeZstd = 1
)

// codec turns blob plaintext into its stored form and back: mode byte + (zstd) data, sealed with
// AES-256-GCM using the blob ID as associated data, so a blob cannot be passed off as another.
type codec struct {
	keys *crypto.Keys
	enc  *zstd.Encoder
	dec  *zstd.Decoder
	bufs sync.Pool
}

func newCodec(keys *crypto.Keys, concurrency int) (*codec, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(concurrency),
		zstd.WithEncoderCRC(false),
		zstd.WithWindowSize(maxBlobBytes),
		zstd.WithZeroFrames(true))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(concurrency),
		zstd.WithDecoderMaxMemory(64<<20),
		zstd.WithDecoderMaxWindow(8<<20))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return &codec{keys: keys, enc: enc, dec: dec}, nil
}

func (c *codec) buf() *[]byte {
	if b, ok := c.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, maxBlobBytes+64)
	return &b
}

// seal appends the stored form of plain (blob id) to dst.
func (c *codec) seal(dst []byte, id ID, plain []byte, compress bool) []byte {
	bp := c.buf()
	payload := append((*bp)[:0], modeZstd)
	if compress && len(plain) > 64 {
		payload = c.enc.EncodeAll(plain, payload)
	}
	if len(payload) == 1 || len(payload) >= len(plain)+1 {
		payload = append(append(payload[:0], modeRaw), plain...)
	}
	dst = c.keys.Seal(dst, payload, id[:])
	*bp = payload
	c.bufs.Put(bp)
	return dst
}

// open authenticates and decodes a stored blob, appending its plaintext (rawLen bytes) to dst.
func (c *codec) open(dst []byte, id ID, stored []byte, rawLen int) ([]byte, error) {
	bp := c.buf()
	defer c.bufs.Put(bp)
	payload, err := c.keys.Open((*bp)[:0], stored, id[:])
	if err != nil {
		return nil, fmt.Errorf("%w: blob %s: %w", ErrCorrupt, id.Short(), err)
	}
	*bp = payload
	if len(payload) == 0 {
		return nil, corruptf("blob %s: empty payload", id.Short())
	}
	start := len(dst)
	switch payload[0] {
	case modeRaw:
		dst = append(dst, payload[1:]...)
	case modeZstd:
		if rawLen > maxBlobBytes*2 {
			return nil, corruptf("blob %s: raw length %d too large", id.Short(), rawLen)
		}
		dst, err = c.dec.DecodeAll(payload[1:], dst)
		if err != nil {
			return nil, fmt.Errorf("%w: blob %s: zstd: %w", ErrCorrupt, id.Short(), err)
		}
	default:
		return nil, corruptf("blob %s: unknown payload mode %d", id.Short(), payload[0])
	}
	if n := len(dst) - start; n != rawLen {
		return nil, corruptf("blob %s: decoded to %d bytes, index says %d", id.Short(), n, rawLen)
	}
	return dst, nil
}

// compressible guesses from a sample whether zstd would gain anything, so that encrypted or
// already compressed data costs no compression attempt.
func compressible(b []byte) bool {
	const sample = 1024
	if len(b) <= 3*sample {
		return compress.Estimate(b) > 0.1
	}
	mid := len(b)/2 - sample/2
	for _, s := range [][]byte{b[:sample], b[mid : mid+sample], b[len(b)-sample:]} {
		if compress.Estimate(s) > 0.1 {
			return true
		}
	}
	return false
}
