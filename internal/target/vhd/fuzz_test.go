package vhd

import (
	"testing"
)

// FuzzParseFooter: any input either fails with an error or parses into a footer that marshals
// and parses back to the same footer.
func FuzzParseFooter(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		ft, err := ParseFooter(b)
		if err != nil {
			return
		}
		again, err := ParseFooter(ft.Marshal())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		ft.Checksum = again.Checksum
		if again != ft {
			t.Fatalf("round trip %+v != %+v", again, ft)
		}
	})
}
