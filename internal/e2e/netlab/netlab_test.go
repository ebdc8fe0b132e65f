//go:build linux

package netlab

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestLab: two hosts reach each other and the gateway; Cut stops it (a dial times out, no refusal);
// Heal brings it back; Loss and Rate apply and lift.
func TestLab(t *testing.T) {
	l := New(t)
	a, b := l.Host("a"), l.Host("b")
	// A listener in each host and one on the gateway; reach means a TCP connection within 1 s.
	ports := map[string]string{}
	for _, h := range []*Host{a, b} {
		ln, err := h.Listen(h.Addr + ":0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go accept(ln)
		ports[h.Addr] = ln.Addr().String()
	}
	gw, err := net.Listen("tcp", l.Gateway+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	go accept(gw)
	ports[l.Gateway] = gw.Addr().String()
	ping := func(h *Host, addr string) bool {
		c, err := h.Dial(ports[addr], time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	if !ping(a, b.Addr) || !ping(b, l.Gateway) || !ping(a, a.Addr) {
		t.Fatal("hosts do not reach each other")
	}
	a.Cut()
	if ping(a, b.Addr) || ping(b, a.Addr) {
		t.Fatal("a cut host still answers")
	}
	if !ping(a, a.Addr) {
		t.Fatal("a cut host lost its own loopback traffic")
	}
	// From the gateway: a TCP dial to a cut host times out instead of being refused.
	start := time.Now()
	if c, err := net.DialTimeout("tcp", ports[a.Addr], 500*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("dial to a cut host succeeded")
	} else if !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("dial to a cut host: %v, want a timeout", err)
	}
	if time.Since(start) < 400*time.Millisecond {
		t.Fatal("the dial failed at once: the cut is not silent")
	}
	a.Heal()
	if !ping(a, b.Addr) {
		t.Fatal("a healed host does not answer")
	}
	a.Loss(100)
	if ping(a, b.Addr) {
		t.Fatal("100 % loss still answers")
	}
	a.Loss(30) // nft takes a partial rate
	argv := a.Argv("nft", "list", "table", "inet", "osrfault")
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil || !strings.Contains(string(out), "numgen random mod 100 < 30") {
		t.Fatalf("loss rule: %v %s", err, out)
	}
	a.Heal()
	a.Rate(256)
	argv = a.Argv("tc", "qdisc", "show", "dev", "eth0")
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "tbf") || !strings.Contains(string(out), "256Kbit") {
		t.Fatalf("rate cap not applied: %v %s", err, out)
	}
	a.Unrate()
	if !ping(a, b.Addr) {
		t.Fatal("no connectivity after the cap was lifted")
	}
}

func accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}
