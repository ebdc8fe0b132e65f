package state

import (
	"bytes"
	"testing"

	"github.com/zeebo/xxh3"
)

func xxh3Hash(b []byte) uint64 { return xxh3.Hash(b) }

// FuzzDecodeMap: any input decodes to a valid map that encodes back to the same bytes, or fails.
func FuzzDecodeMap(f *testing.F) {
	good, _ := sampleMap().Encode()
	f.Add(good)
	f.Add(good[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMap(b)
		if err != nil {
			return
		}
		out, err := m.Encode()
		if err != nil {
			t.Fatalf("decoded map does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatal("decode and encode differ")
		}
	})
}

// FuzzDecodeAgent: any input gives a valid state or an error, never a panic.
func FuzzDecodeAgent(f *testing.F) {
	f.Add([]byte(`{"version":1,"machine":"m","next_seq":2,"committed_seq":1,"running":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeAgent(b)
		if err != nil {
			return
		}
		if a.Machine == "" || a.NextSeq <= a.CommittedSeq {
			t.Fatalf("invalid state accepted: %+v", a)
		}
		if _, err := DecodeAgent(a.Encode()); err != nil {
			t.Fatalf("re-encoded state fails: %v", err)
		}
	})
}
