package main

import (
	"net"
	"testing"
)

func TestNextFreePort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	p, err := nextFreePort("127.0.0.1", taken)
	if err != nil {
		t.Fatal(err)
	}
	if p == taken || p < taken || p > taken+99 {
		t.Fatalf("next free port after taken %d: %d", taken, p)
	}
	q, err := nextFreePort("127.0.0.1", taken, p)
	if err != nil {
		t.Fatal(err)
	}
	if q == p || q == taken {
		t.Fatalf("port %d was to be avoided, and %d is taken: got %d", p, taken, q)
	}
}
