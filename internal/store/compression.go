package store

import "fmt"

// Compression is how a store compresses the data blobs it writes. Reading does not depend on it:
// every blob says how it was compressed, so stores written with either can be read by any osr
// that knows both.
type Compression int32

const (
	// CompressZstd is zstd at its fastest level: the smallest blobs (the default).
	CompressZstd Compression = iota
	// CompressS2 is S2 (a Snappy extension): two to three times zstd's speed for about a third more
	// bytes. For writers whose CPU is the bottleneck, such as a process server.
	CompressS2
)

// String returns the name ParseCompression reads.
func (c Compression) String() string {
	switch c {
	case CompressZstd:
		return "zstd"
	case CompressS2:
		return "s2"
	}
	return fmt.Sprintf("compression-%d", int32(c))
}

// ParseCompression reads "zstd" or "s2" ("" is zstd).
func ParseCompression(s string) (Compression, error) {
	switch s {
	case "", "zstd":
		return CompressZstd, nil
	case "s2":
		return CompressS2, nil
	}
	return 0, fmt.Errorf("unknown compression %q (zstd or s2)", s)
}

// SetCompression chooses how data blobs written from now on are compressed. It is safe to call at
// any time; blobs already stored keep theirs.
func (r *Repo) SetCompression(c Compression) { r.codec.comp.Store(int32(c)) }
