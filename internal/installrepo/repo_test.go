package installrepo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/opensiterecovery/osr/internal/e2e/sshhost"
)

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func newRepo(t *testing.T, builds map[Platform][]byte) *Repo {
	t.Helper()
	r, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range builds {
		got, err := r.Add(context.Background(), p, bytes.NewReader(b))
		if err != nil || got != sum(b) {
			t.Fatalf("add %s: %s %v", p, got, err)
		}
	}
	return r
}

func TestRepoAddOpen(t *testing.T) {
	amd, arm, win := []byte("amd64 build"), []byte("arm64 build"), []byte("MZ windows build")
	r := newRepo(t, map[Platform][]byte{LinuxAMD64: amd, LinuxARM64: arm, WindowsAMD64: win})
	b, _ := os.ReadFile(filepath.Join(r.Dir(), SumsFile))
	want := fmt.Sprintf("%s  linux-amd64/osr\n%s  linux-arm64/osr\n%s  windows-amd64/osr.exe\n", sum(amd), sum(arm), sum(win))
	if string(b) != want {
		t.Fatalf("SHA256SUMS:\n%s\nwant\n%s", b, want)
	}
	ctx := context.Background()
	bl, err := r.Open(ctx, WindowsAMD64)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(bl.File)
	bl.File.Close()
	if !bytes.Equal(got, win) || bl.Size != int64(len(win)) || bl.SHA256 != sum(win) {
		t.Fatalf("open: %q %d %s", got, bl.Size, bl.SHA256)
	}
	// A damaged build is refused.
	os.WriteFile(filepath.Join(r.Dir(), "linux-arm64", "osr"), []byte("arm64 bui1d"), 0o755)
	_, err = r.Open(ctx, LinuxARM64)
	wantErr := fmt.Sprintf("build linux-arm64/osr is damaged: its SHA-256 is %s, SHA256SUMS says %s", sum([]byte("arm64 bui1d")), sum(arm))
	if err == nil || err.Error() != wantErr {
		t.Fatalf("damaged: %v", err)
	}
	empty, _ := Open(t.TempDir())
	if _, err := empty.Open(ctx, LinuxAMD64); !errors.Is(err, ErrNoBuild) || err.Error() != "linux/amd64: no build in the install repository (add it with osr mobility repo add)" {
		t.Fatalf("empty: %v", err)
	}
	if _, err := ParsePlatform("freebsd/amd64"); err == nil || err.Error() != `unsupported platform "freebsd/amd64": want linux/amd64, linux/arm64 or windows/amd64` {
		t.Fatal(err)
	}
}

func TestFetch(t *testing.T) {
	build := bytes.Repeat([]byte("osr agent build "), 100000)
	r := newRepo(t, map[Platform][]byte{LinuxAMD64: build})
	corrupt := false
	h := r.Handler(nil)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if corrupt && strings.HasSuffix(req.URL.Path, "/osr") {
			b := bytes.Clone(build)
			b[len(b)/2] ^= 1 // damaged on the way
			w.Write(b)
			return
		}
		h.ServeHTTP(w, req)
	}))
	defer srv.Close()
	ctx := context.Background()
	dest := filepath.Join(t.TempDir(), "bin", "osr")
	opts := FetchOptions{BaseURL: srv.URL + "/agents", Platform: LinuxAMD64, Client: srv.Client(), Dest: dest}

	got, err := Fetch(ctx, opts)
	if err != nil || got != sum(build) {
		t.Fatalf("fetch: %s %v", got, err)
	}
	if b, _ := os.ReadFile(dest); !bytes.Equal(b, build) {
		t.Fatal("installed bytes differ")
	}
	if st, _ := os.Stat(dest); st.Mode().Perm() != 0o755 {
		t.Fatalf("mode %v", st.Mode())
	}
	os.Remove(dest)

	wrong := strings.Repeat("0", 64)
	tests := []struct {
		name    string
		corrupt bool
		sha     string
		want    string
	}{
		{"operator checksum differs", false, wrong, fmt.Sprintf("checksum mismatch for linux-amd64/osr: the repository lists %s, expected %s; nothing was installed", sum(build), wrong)},
		{"damaged in transit", true, "", fmt.Sprintf("checksum mismatch for linux-amd64/osr: downloaded %s, the repository lists %s; nothing was installed", sum(append(build[:len(build)/2:len(build)/2], append([]byte{build[len(build)/2] ^ 1}, build[len(build)/2+1:]...)...)), sum(build))},
		{"no such build", false, "", "linux/arm64: no build in the install repository at " + srv.URL + "/agents"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			corrupt = tc.corrupt
			o := opts
			o.SHA256 = tc.sha
			if tc.name == "no such build" {
				o.Platform = LinuxARM64
			}
			_, err := Fetch(ctx, o)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v\nwant  %s", err, tc.want)
			}
			entries, _ := os.ReadDir(filepath.Dir(dest))
			if len(entries) != 0 {
				t.Fatalf("left behind: %v", entries)
			}
		})
	}
	corrupt = false
	// The served build is checked as it is opened: damaged on disk, it is not sent.
	os.WriteFile(filepath.Join(r.Dir(), "linux-amd64", "osr"), []byte("tampered"), 0o755)
	resp, err := srv.Client().Get(srv.URL + "/agents/linux-amd64/osr")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || string(body) != "the build is damaged on the configuration server; see its log\n" {
		t.Fatalf("damaged build served: %d %q", resp.StatusCode, body)
	}
}

// TestInstallScriptOnHost runs the served install script on an SSH host in its own network
// namespace, as an operator would with curl: the build is installed and osr mobility install runs;
// with a wrong checksum, nothing is installed and the exit code is 5.
func TestInstallScriptOnHost(t *testing.T) {
	host := sshhost.Start(t, sshhost.Options{})
	// The "build" is a script that shows its arguments, standing in for the agent binary.
	build := []byte("#!/bin/sh\necho \"agent called with: $*\"\n")
	r := newRepo(t, map[Platform][]byte{LinuxAMD64: build, LinuxARM64: build})
	ln, err := net.Listen("tcp", net.JoinHostPort(host.Gateway, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(r.Handler(nil))
	srv.Listener.Close()
	srv.Listener = ln
	srv.StartTLS()
	defer srv.Close()

	c, err := ssh.Dial("tcp", net.JoinHostPort(host.Addr, "22"), &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(host.Signer(t))},
		HostKeyCallback: ssh.FixedHostKey(host.HostKey)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	run := func(cmd string) (string, int) {
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		out, err := s.CombinedOutput(cmd)
		var ee *ssh.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitStatus()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	base := srv.URL + "/agents"
	script := fmt.Sprintf("curl -fsSk %s/install.sh | OSR_PREFIX=%s OSR_CURL=-k sh -s -- --sha256 %%s -- --config-server cs1 --disk sda=/dev/sda", base, host.Root)

	wrong := strings.Repeat("ab", 32)
	out, code := run(fmt.Sprintf(script, wrong))
	want := fmt.Sprintf("osr install: checksum mismatch for linux-amd64/osr: got %s, expected %s; nothing was installed\n", sum(build), wrong)
	if code != 5 || out != want {
		t.Fatalf("wrong checksum: exit %d\n%q\nwant %q", code, out, want)
	}
	if e, _ := os.ReadDir(host.Root); len(e) != 0 {
		t.Fatalf("wrong checksum left %v", e)
	}

	out, code = run(fmt.Sprintf(script, sum(build)))
	want = fmt.Sprintf("osr install: linux-amd64 build %s installed in %s/opt/osr/bin/osr\nagent called with: mobility install --config-server cs1 --disk sda=/dev/sda\n", sum(build), host.Root)
	if code != 0 || out != want {
		t.Fatalf("install: exit %d\n%q\nwant %q", code, out, want)
	}
	if b, _ := os.ReadFile(filepath.Join(host.Root, "opt/osr/bin/osr")); !bytes.Equal(b, build) {
		t.Fatal("installed bytes differ")
	}
}
