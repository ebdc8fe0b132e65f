package qcow2

import "testing"

// FuzzParseHeader: any input either fails with an error or parses into a header that marshals
// and parses back to the same header.
func FuzzParseHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		again, err := ParseHeader(h.Marshal())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		h.HeaderLength = HeaderLength // Marshal writes the fields osr knows, no more
		if again != h {
			t.Fatalf("round trip %+v != %+v", again, h)
		}
	})
}
