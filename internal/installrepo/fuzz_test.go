package installrepo

import (
	"bytes"
	"testing"
)

// FuzzParseSums: a list that parses formats back to itself; anything else is an error.
func FuzzParseSums(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef  linux-amd64/osr\n"))
	f.Add([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef *windows-amd64/osr.exe\n"))
	f.Add([]byte("zz  linux-amd64/osr\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sums, err := ParseSums(b)
		if err != nil {
			return
		}
		again, err := ParseSums(FormatSums(sums))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(FormatSums(again), FormatSums(sums)) {
			t.Fatal("not stable")
		}
	})
}
