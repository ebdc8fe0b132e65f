package mobility

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/pki"
)

// TestPSDialerSwitch: a switch closes the live connection, wakes the agent, and the next dial
// goes to the new process server; a dial that hangs (a server that never answers the TLS
// handshake) ends at the switch instead of at its timeout.
func TestPSDialerSwitch(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.InitCA(filepath.Join(dir, "pki"), "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	issue := func(role pki.Role, name string, hosts ...string) (string, string) {
		c, k, err := ca.Issue(pki.LeafRequest{Name: name, Role: role, Hosts: hosts, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		cf, kf, err := pki.WriteLeaf(filepath.Join(dir, "issued"), name, c, k)
		if err != nil {
			t.Fatal(err)
		}
		return cf, kf
	}
	caFile := filepath.Join(dir, "pki", pki.CACertFile)
	// Two process servers that accept TLS and keep each connection until it closes.
	serve := func(name string) (string, chan string) {
		cf, kf := issue(pki.RoleProcessServer, name, "127.0.0.1")
		id, err := pki.LoadIdentity(cf, kf, caFile)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", id.ServerConfig(pki.PeerCheck{Roles: []pki.Role{pki.RoleAgent}}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		got := make(chan string, 4)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					c.(*tls.Conn).Handshake()
					got <- name
					b := make([]byte, 1)
					c.Read(b)
					c.Close()
				}()
			}
		}()
		return ln.Addr().String(), got
	}
	addrA, gotA := serve("psa")
	addrB, gotB := serve("psb")
	cf, kf := issue(pki.RoleAgent, "web01")
	cfg := &Config{Machine: "web01", ProcessServer: addrA}
	cfg.TLS.CA, cfg.TLS.Cert, cfg.TLS.Key, cfg.TLS.ServerName = caFile, cf, kf, "127.0.0.1"
	d, err := NewPSDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := d.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := <-gotA; n != "psa" {
		t.Fatalf("connected to %s", n)
	}
	if d.Switch(addrA) {
		t.Fatal("a switch to the same process server changed something")
	}
	if !d.Switch(addrB) || d.Addr() != addrB {
		t.Fatalf("switch: now %s", d.Addr())
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || !strings.Contains(err.Error(), "use of closed network connection") {
		t.Fatalf("the connection to the old process server was not closed: %v", err)
	}
	select {
	case <-d.Redial():
	default:
		t.Fatal("the switch did not wake the agent")
	}
	c2, err := d.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if n := <-gotB; n != "psb" {
		t.Fatalf("connected to %s", n)
	}
	// A process server that accepts and never answers: the dial waits until the switch.
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
	d.Switch(ln.Addr().String())
	errc := make(chan error, 1)
	go func() {
		_, err := d.Dial(ctx)
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	d.Switch(addrA)
	select {
	case err := <-errc:
		if err == nil || err.Error() != "process server changed from "+ln.Addr().String()+" to "+addrA+" while connecting" {
			t.Fatalf("hanging dial ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the switch did not end the hanging dial")
	}
}
