package regkey

import (
	"errors"
	"testing"
)

// FuzzParse: any input either parses into a key that re-validates, or fails with ErrMalformed.
func FuzzParse(f *testing.F) {
	priv, lookup := testSigner(0)
	good, err := Sign(testKey(), priv)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(good))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(string(b))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if err := s.validate(); err != nil {
			t.Fatalf("parsed key does not validate: %v", err)
		}
		_ = s.Verify(lookup, s.Issued) // must not panic
	})
}
