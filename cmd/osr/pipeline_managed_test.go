package main

import (
	"testing"
)

func TestPSStorage(t *testing.T) {
	tests := []struct {
		name, raw, url, err string
	}{
		{"storage", `{"version":4,"name":"ps1","storage":{"url":"file:///srv/vault","password":"c2VjcmV0"},"machines":[]}`, "file:///srv/vault", ""},
		{"a plain path", `{"storage":{"url":"/srv/vault","password":"c2VjcmV0"}}`, "/srv/vault", ""},
		{"none yet", `{"version":1,"name":"ps1","machines":[]}`, "", ""},
		{"empty url", `{"storage":{"url":"","password":"c2VjcmV0"}}`, "", ""},
		{"not json", `[`, "", "process server configuration: unexpected end of JSON input"},
		{"password not base64", `{"storage":{"url":"/srv/vault","password":"!!"}}`, "", "process server configuration: illegal base64 data at input byte 0"},
		{"no password", `{"storage":{"url":"s3://minio:9000/b/osr"}}`, "", "process server configuration: storage without a password"},
		{"control character", `{"storage":{"url":"/srv/vault\nrepo: x","password":"c2VjcmV0"}}`, "", `process server configuration: storage url "/srv/vault\nrepo: x" holds control characters`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := psStorage([]byte(tc.raw))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.url == "" && st != nil:
				t.Fatalf("settings %+v, want none", st)
			case tc.url != "" && (st == nil || st.URL != tc.url || string(st.Password) != "secret"):
				t.Fatalf("settings %+v, want %s with password secret", st, tc.url)
			}
		})
	}
}

// FuzzPSStorage: any answer of a configuration server is refused with an error, has no settings,
// or has settings with a password and a URL without control characters.
func FuzzPSStorage(f *testing.F) {
	f.Add([]byte(`{"version":4,"name":"ps1","storage":{"url":"file:///srv/vault","password":"c2VjcmV0"},"machines":[{"machine":"web01","policy":{"name":"gold"}}]}`))
	f.Add([]byte(`{"version":1,"name":"ps1","machines":[]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		st, err := psStorage(raw)
		if err != nil || st == nil {
			if err != nil && st != nil {
				t.Fatalf("error %v with settings %+v", err, st)
			}
			return
		}
		if st.URL == "" || len(st.Password) == 0 {
			t.Fatalf("settings without url or password: %+v", st)
		}
		for _, r := range st.URL {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("control character in %q", st.URL)
			}
		}
	})
}
