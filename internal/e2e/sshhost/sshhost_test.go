package sshhost

import (
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestHosts(t *testing.T) {
	a := Start(t, Options{})
	b := Start(t, Options{Uname: "FreeBSD amd64"})
	if a.Addr == b.Addr {
		t.Fatalf("same address %s", a.Addr)
	}
	for _, tc := range []struct {
		h    *Host
		want string
	}{{a, "Linux"}, {b, "FreeBSD amd64"}} {
		c, err := ssh.Dial("tcp", net.JoinHostPort(tc.h.Addr, "22"), &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(tc.h.Signer(t))},
			HostKeyCallback: ssh.FixedHostKey(tc.h.HostKey), Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		s, _ := c.NewSession()
		out, err := s.CombinedOutput("uname -sm; ip -4 -o addr show scope global | wc -l")
		c.Close()
		if err != nil || !strings.HasPrefix(string(out), tc.want) || !strings.HasSuffix(string(out), "\n1\n") {
			t.Fatalf("%s: %q %v", tc.h.Addr, out, err)
		}
	}
}
