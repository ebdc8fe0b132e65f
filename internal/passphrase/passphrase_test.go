package passphrase

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerateParses(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		p := Generate()
		if seen[p.String()] {
			t.Fatalf("passphrase %q generated twice", p)
		}
		seen[p.String()] = true
		q, err := Parse(p.String() + "\n")
		if err != nil {
			t.Fatalf("Parse(%q): %v", p, err)
		}
		if q != p {
			t.Fatalf("Parse(%q) = %q", p, q)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{"  ABCDEF-GHJKMN-PQRSTV-WXYZ23\n", ""},
		{"", "invalid passphrase: empty"},
		{" \n", "invalid passphrase: empty"},
		{"ABCDEF-GHJKMN-PQRSTV-WXYZ2", "invalid passphrase: 26 characters, want 27 (four groups of six joined by '-')"},
		{"ABCDEF_GHJKMN-PQRSTV-WXYZ23", "invalid passphrase: character 7 is '_', want '-'"},
		{"ABCDEF-GHJKMN-PQRSTV-WXYZ20", "invalid passphrase: character 27 ('0') is not in the passphrase alphabet"},
		{"ABCDEFGGHJKMN-PQRSTV-WXYZ23", "invalid passphrase: character 7 is 'G', want '-'"},
	} {
		_, err := Parse(tc.in)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.err {
			t.Errorf("Parse(%q): error %q, want %q", tc.in, got, tc.err)
		}
	}
}

func TestProofsBindEveryField(t *testing.T) {
	p, q := Generate(), Generate()
	cn, sn, ch := Nonce(), Nonce(), bytes.Repeat([]byte{7}, 32)
	csr := []byte("csr")
	base := p.ClientProof(cn, sn, ch, "agent", "web01", csr)
	if !Equal(base, p.ClientProof(cn, sn, ch, "agent", "web01", csr)) {
		t.Fatal("client proof is not deterministic")
	}
	for name, other := range map[string][]byte{
		"passphrase":   q.ClientProof(cn, sn, ch, "agent", "web01", csr),
		"client nonce": p.ClientProof(sn, sn, ch, "agent", "web01", csr),
		"server nonce": p.ClientProof(cn, cn, ch, "agent", "web01", csr),
		"cert hash":    p.ClientProof(cn, sn, cn, "agent", "web01", csr),
		"role":         p.ClientProof(cn, sn, ch, "process-server", "web01", csr),
		"name":         p.ClientProof(cn, sn, ch, "agent", "web02", csr),
		"csr":          p.ClientProof(cn, sn, ch, "agent", "web01", []byte("csR")),
		"field split":  p.ClientProof(cn, sn, ch, "agentw", "eb01", csr),
		"server label": p.ServerProof(cn, sn, ch),
	} {
		if Equal(base, other) {
			t.Errorf("changing the %s does not change the client proof", name)
		}
	}
	if Equal(p.ServerProof(cn, sn, ch), q.ServerProof(cn, sn, ch)) {
		t.Error("server proofs of two passphrases are equal")
	}
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "passphrase")
	p := Generate()
	if err := WriteFile(path, p); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if string(b) != p.String()+"\n" {
		t.Fatalf("file holds %q", b)
	}
	got, err := ReadFile(path, true)
	if err != nil || got != p {
		t.Fatalf("ReadFile = %q, %v", got, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadFile(path, true)
	want := "passphrase file " + path + " is accessible by others (mode 0644); run chmod 600 " + path
	if err == nil || err.Error() != want {
		t.Fatalf("ReadFile of a 0644 file: %v, want %q", err, want)
	}
	if got, err := ReadFile(path, false); err != nil || got != p {
		t.Fatalf("ReadFile(private=false) = %q, %v", got, err)
	}
	if err := os.WriteFile(path, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ReadFile(path, false)
	want = "passphrase file " + path + ": invalid passphrase: 7 characters, want 27 (four groups of six joined by '-')"
	if err == nil || err.Error() != want {
		t.Fatalf("ReadFile of a bad file: %v, want %q", err, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want the file alone", len(entries))
	}
}

func FuzzParse(f *testing.F) {
	f.Add("ABCDEF-GHJKMN-PQRSTV-WXYZ23")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid passphrase: ") {
				t.Fatalf("error %q does not say invalid passphrase", err)
			}
			return
		}
		q, err := Parse(p.String())
		if err != nil || q != p {
			t.Fatalf("canonical form %q does not parse back: %v", p, err)
		}
	})
}
