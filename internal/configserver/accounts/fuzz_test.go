package accounts

import "testing"

// FuzzDecode: the decoders of the account file and the key file never panic and accept only what
// they document.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"version":1,"accounts":[{"name":"a","type":"ssh","user":"root","secret_kind":"password","created":"2026-12-01T10:00:00Z","secret":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`))
	f.Add([]byte(`{"version":1,"key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if fl, err := decodeFile(b); err == nil {
			if fl.Version != 1 {
				t.Fatalf("accepted version %d", fl.Version)
			}
			for _, r := range fl.Accounts {
				if len(r.Secret) < 28 || !nameRE.MatchString(r.Name) {
					t.Fatalf("accepted record %+v", r)
				}
			}
		}
		if k, err := decodeKey(b); err == nil && len(k) != 32 {
			t.Fatalf("accepted a %d-byte key", len(k))
		}
	})
}
