package portal

import (
	"strings"
	"testing"
)

// FuzzSessionCookie: any cookie value either parses into two non-empty parts that rebuild it, or
// is refused with the one error; nothing panics.
func FuzzSessionCookie(f *testing.F) {
	for _, s := range []string{"tk-0123456789abcdef.osr_c2VjcmV0", "", ".", "tk-1.", ".osr_x", "tk.a.b", "tk-1.osr x", "tk-1.osr\x00", strings.Repeat("a", 600) + ".b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		id, secret, err := parseSessionCookie(v)
		if err != nil {
			if err != errBadCookie || id != "" || secret != "" {
				t.Fatalf("%q: %q %q %v", v, id, secret, err)
			}
			return
		}
		if id == "" || secret == "" || strings.Contains(id, ".") || id+"."+secret != v || len(v) > maxCookie {
			t.Fatalf("%q parsed as %q %q", v, id, secret)
		}
	})
}

// FuzzSafeNext: the sign-in page's next parameter only ever leads to a path of this site.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/vaults", "//evil.example/", "/\\evil.example", "https://evil.example/", "/api/v1/vaults", "", "vaults", "/\t/evil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got != "/" && got != next {
			t.Fatalf("%q became %q", next, got)
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\t\r\n ") {
			t.Fatalf("%q leads off the site: %q", next, got)
		}
	})
}
