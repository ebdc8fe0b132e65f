// Package sshhost runs throwaway "source hosts" for push-install tests: each is an OpenSSH server
// (Debian's openssh-server, `sshd -D -f` with its own configuration and a fresh host key) in its
// own network namespace, reached from the test through a veth pair on a private /24 of
// 10.231.0.0/16 that exists only inside this machine. It needs root. Everything it creates (the
// namespace, the veth pair, sshd and any process left in the namespace, the directory) is removed
// when the test ends.
//
// The hosts share the test machine's file system: each gets its own directory (Host.Root) that
// push-install tests use as the installation prefix, so that three hosts do not share files.
package sshhost

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Options shape one host.
type Options struct {
	// Uname, when set, is what `uname` prints on the host (a script first on the session's PATH),
	// to play an unsupported operating system.
	Uname string
}

// Host is one running SSH host.
type Host struct {
	Name    string // namespace name
	Addr    string // the host's address inside its namespace
	Gateway string // the test side's address on the same link: the host reaches the test here
	Port    int
	Dir     string // sshd's files
	Root    string // an empty directory for the host's installations
	HostKey ssh.PublicKey
	// ClientKey is an OpenSSH private key (PEM) that may log in as root.
	ClientKey []byte
}

// Start creates a host; it fails the test with what to install when sshd or root is missing.
func Start(t testing.TB, opts Options) *Host {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("sshhost: needs root (network namespaces); run the tests as root")
	}
	sshd, err := exec.LookPath("/usr/sbin/sshd")
	if err != nil {
		t.Fatal("sshhost: /usr/sbin/sshd not found: apt-get install -y openssh-server")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("sshhost: ip not found: apt-get install -y iproute2")
	}
	dir := t.TempDir()
	h := &Host{Dir: dir, Root: filepath.Join(dir, "root"), Port: 22}
	for _, d := range []string{h.Root, filepath.Join(dir, "bin"), "/run/sshd"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	// Keys: a host key for sshd, a client key allowed to log in.
	hostPriv := newKey(t, filepath.Join(dir, "host_key"))
	h.HostKey = hostPriv
	clientPub := newKey(t, filepath.Join(dir, "client_key"))
	h.ClientKey, _ = os.ReadFile(filepath.Join(dir, "client_key"))
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(clientPub), 0o600); err != nil {
		t.Fatal(err)
	}
	if opts.Uname != "" {
		script := "#!/bin/sh\necho '" + strings.ReplaceAll(opts.Uname, "'", "") + "'\n"
		if err := os.WriteFile(filepath.Join(dir, "bin", "uname"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	n, unlock := allocate(t)
	h.Name = fmt.Sprintf("osrssh%d-%d", os.Getpid()%100000, n)
	veth, peer := fmt.Sprintf("osh%dh", n), fmt.Sprintf("osh%dn", n)
	h.Gateway, h.Addr = fmt.Sprintf("10.231.%d.1", n), fmt.Sprintf("10.231.%d.2", n)
	t.Cleanup(func() { h.destroy(t, veth) })
	for _, args := range [][]string{
		{"netns", "add", h.Name},
		{"link", "add", veth, "type", "veth", "peer", "name", peer},
		// No IPv6 link-local address on this machine's end: the kernel adds it a while after the
		// link is up, an address change outside netlab.Changing that aborts browser page loads.
		{"link", "set", veth, "addrgenmode", "none"},
		{"link", "set", peer, "netns", h.Name},
		{"addr", "add", h.Gateway + "/24", "dev", veth},
		{"link", "set", veth, "up"},
		{"-n", h.Name, "addr", "add", h.Addr + "/24", "dev", peer},
		{"-n", h.Name, "link", "set", peer, "up"},
		{"-n", h.Name, "link", "set", "lo", "up"},
		// Every address of the test machine is reachable through the gateway.
		{"-n", h.Name, "route", "add", "default", "via", h.Gateway},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			unlock()
			t.Fatalf("sshhost: ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	unlock() // the link holds the subnet now
	conf := fmt.Sprintf(`ListenAddress %s:22
HostKey %s/host_key
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
SetEnv PATH=%s/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LogLevel ERROR
`, h.Addr, dir, dir, dir, dir)
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	argv := h.inNamespace(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	cmd := exec.Command(argv[0], argv[1:]...)
	logf, _ := os.Create(filepath.Join(dir, "sshd.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("sshhost: start sshd: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(h.Addr, "22"), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
			t.Fatalf("sshhost: sshd on %s does not answer: %v\n%s", h.Addr, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return h
}

// Signer returns the client key as an ssh.Signer.
func (h *Host) Signer(t testing.TB) ssh.Signer {
	s, err := ssh.ParsePrivateKey(h.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newKey writes a new ed25519 private key (OpenSSH PEM, 0600) and returns its public key.
func newKey(t testing.TB, path string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, _ := ssh.NewPublicKey(pub)
	return sp
}
