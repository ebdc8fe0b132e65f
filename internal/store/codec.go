package store

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/opensiterecovery/osr/internal/crypto"
)

// Blob payload modes: the first plaintext byte under the encryption.
const (
	modeRaw  = 0
	modeZstd = 1
	modeS2   = 2 // an S2 block (klauspost/compress/s2), a Snappy extension
)

// codec turns blob plaintext into its stored form and back: mode byte + (compressed) data, sealed
// with AES-256-GCM using the blob ID as associated data, so a blob cannot be passed off as another.
// It reads every mode whatever it writes.
type codec struct {
	keys *crypto.Keys
	enc  *zstd.Encoder
	dec  *zstd.Decoder
	comp atomic.Int32 // Compression new data blobs get
	bufs sync.Pool
}

// payloadCap is the capacity of the codec's buffers: a mode byte and the largest S2 block of the
// largest blob, so that neither encoder grows them.
var payloadCap = 1 + s2.MaxEncodedLen(maxBlobBytes) + 64

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
	b := make([]byte, 0, payloadCap)
	return &b
}

// seal appends the stored form of plain (blob id) to dst.
func (c *codec) seal(dst []byte, id ID, plain []byte, compress bool) []byte {
	bp, payload := c.payload(plain, compress)
	dst = c.sealPayload(dst, id, payload)
	c.release(bp, payload)
	return dst
}

// sealPayload appends the sealed payload (from payload) to dst.
func (c *codec) sealPayload(dst []byte, id ID, payload []byte) []byte {
	return c.keys.Seal(dst, payload, id[:])
}

// release gives payload's buffer back.
func (c *codec) release(bp *[]byte, payload []byte) {
	*bp = payload[:0]
	c.bufs.Put(bp)
}

// payload returns the mode byte and (compressed) data of plain in a buffer of the codec's, to be
// given back with release.
func (c *codec) payload(plain []byte, compress bool) (*[]byte, []byte) {
	bp := c.buf()
	payload := (*bp)[:1]
	if compress && len(plain) > 64 {
		switch Compression(c.comp.Load()) {
		case CompressS2:
			payload[0] = modeS2
			if n := 1 + s2.MaxEncodedLen(len(plain)); n <= cap(payload) {
				payload = payload[:1+len(s2.Encode(payload[1:n], plain))]
			}
		default:
			payload[0] = modeZstd
			payload = c.enc.EncodeAll(plain, payload)
		}
	}
	if len(payload) == 1 || len(payload) >= len(plain)+1 {
		payload = append(append(payload[:0], modeRaw), plain...)
	}
	return bp, payload
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
	case modeS2:
		if rawLen > maxBlobBytes*2 {
			return nil, corruptf("blob %s: raw length %d too large", id.Short(), rawLen)
		}
		n, err := s2.DecodedLen(payload[1:])
		if err != nil {
			return nil, fmt.Errorf("%w: blob %s: %w", ErrCorrupt, id.Short(), err)
		}
		if n != rawLen {
			return nil, corruptf("blob %s: decodes to %d bytes, index says %d", id.Short(), n, rawLen)
		}
		dst = slices.Grow(dst, n)
		if _, err := s2.Decode(dst[start:start+n], payload[1:]); err != nil {
			return nil, fmt.Errorf("%w: blob %s: %w", ErrCorrupt, id.Short(), err)
		}
		dst = dst[:start+n]
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
