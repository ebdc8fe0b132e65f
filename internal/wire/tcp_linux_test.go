//go:build linux

package wire

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TuneTCP sets TCP_USER_TIMEOUT and keepalive on the socket under a plain or a TLS connection.
func TestTuneTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for _, tc := range []struct {
		name string
		wrap func(net.Conn) net.Conn
		idle time.Duration
	}{
		{"tcp", func(c net.Conn) net.Conn { return c }, 60 * time.Second},
		{"tls", func(c net.Conn) net.Conn { return tls.Client(c, &tls.Config{InsecureSkipVerify: true}) }, 7 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if err := TuneTCP(tc.wrap(raw), tc.idle); err != nil {
				t.Fatal(err)
			}
			rc, _ := raw.(*net.TCPConn).SyscallConn()
			var ut, ka, idle, intvl, cnt int
			rc.Control(func(fd uintptr) {
				ut, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
				ka, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
				idle, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
				intvl, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPINTVL)
				cnt, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPCNT)
			})
			probe := int((tc.idle / 4).Seconds())
			if ut != int(tc.idle.Milliseconds()) || ka != 1 || idle != probe || intvl != probe || cnt != 4 {
				t.Fatalf("user timeout %d ms, keepalive %d idle %d interval %d count %d; want %d ms, 1 %d %d 4",
					ut, ka, idle, intvl, cnt, tc.idle.Milliseconds(), probe, probe)
			}
		})
	}
	// Not TCP: nothing to do, no error.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := TuneTCP(a, time.Minute); err != nil {
		t.Fatalf("pipe: %v", err)
	}
}
