package pushinstall

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestKnownHosts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	k := NewKnownHosts(path)
	newKey := func() ssh.PublicKey {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		k, _ := ssh.NewPublicKey(pub)
		return k
	}
	a, b := newKey(), newKey()
	addr := &net.TCPAddr{IP: net.ParseIP("10.0.0.7"), Port: 22}
	cb := k.Callback()
	if err := cb("10.0.0.7:22", addr, a); err != nil {
		t.Fatalf("first contact: %v", err)
	}
	if err := cb("10.0.0.7:22", addr, a); err != nil {
		t.Fatalf("same key: %v", err)
	}
	err := cb("10.0.0.7:22", addr, b)
	want := "the host key of 10.0.0.7 changed (now " + ssh.FingerprintSHA256(b) + "); if the machine was reinstalled, remove its line from " + path
	if err == nil || err.Error() != want {
		t.Fatalf("changed key: %v\nwant %s", err, want)
	}
	if err := cb("10.0.0.8:2222", &net.TCPAddr{IP: net.ParseIP("10.0.0.8"), Port: 2222}, b); err != nil {
		t.Fatalf("another host: %v", err)
	}
	got, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "10.0.0.7 ssh-ed25519 ") || !strings.HasPrefix(lines[1], "[10.0.0.8]:2222 ssh-ed25519 ") {
		t.Fatalf("known_hosts:\n%s", got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
}

func TestPlatform(t *testing.T) {
	for _, tc := range []struct{ uname, want, err string }{
		{"Linux x86_64\n", "linux/amd64", ""},
		{"Linux aarch64\n", "linux/arm64", ""},
		{"Linux armv7l\n", "", `unsupported operating system "Linux armv7l": push install supports Linux on x86_64 and aarch64 (Windows: install manually)`},
		{"Darwin arm64\n", "", `unsupported operating system "Darwin arm64": push install supports Linux on x86_64 and aarch64 (Windows: install manually)`},
		{"", "", `unsupported operating system "": push install supports Linux on x86_64 and aarch64 (Windows: install manually)`},
	} {
		p, err := platform(tc.uname)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: %v", tc.uname, err)
			}
			continue
		}
		if err != nil || p.String() != tc.want {
			t.Errorf("%q: %v %v", tc.uname, p, err)
		}
	}
}

func TestRemovable(t *testing.T) {
	l := Layout{Root: "/srv/h1"}
	for _, tc := range []struct {
		dir  string
		want bool
	}{
		{"/srv/h1/opt", true}, {"/srv/h1/opt/osr", true}, {"/srv/h1/etc/osr", true}, {"/srv/h1/var", true},
		{"/srv/h1", false}, {"/srv", false}, {"/", false}, {"/srv/h1/home", false}, {"/srv/h1/opt/../home", false}, {"relative/opt", false},
	} {
		if got := l.removable(tc.dir); got != tc.want {
			t.Errorf("%s: %v", tc.dir, got)
		}
	}
	if (Layout{}).removable("/") || !(Layout{}).removable("/opt/osr") || (Layout{}).removable("/usr") {
		t.Error("root layout")
	}
}
