package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// echoServer answers every connection with what it reads.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func newProxy(t *testing.T) *Proxy {
	t.Helper()
	p, err := New("127.0.0.1:0", echoServer(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func roundTrip(t *testing.T, c net.Conn, msg []byte) error {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo: got %d bytes that differ", len(got))
	}
	return nil
}

func TestForwardAndCount(t *testing.T) {
	p := newProxy(t)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("osr-proxy"), 100_000)
	if err := roundTrip(t, c, msg); err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	if s.Up != int64(len(msg)) || s.Down != int64(len(msg)) || s.Accepted != 1 || s.Open != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCut(t *testing.T) {
	p := newProxy(t)
	c, _ := net.Dial("tcp", p.Addr())
	defer c.Close()
	if err := roundTrip(t, c, []byte("before")); err != nil {
		t.Fatal(err)
	}
	if n := p.Cut(); n != 1 {
		t.Fatalf("cut %d connections, want 1", n)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
		t.Fatalf("read after cut: %v, want a reset", err)
	}
	// New connections work again.
	c2, _ := net.Dial("tcp", p.Addr())
	defer c2.Close()
	if err := roundTrip(t, c2, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Cut != 1 || s.Accepted != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestPauseAndDelay(t *testing.T) {
	p := newProxy(t)
	c, _ := net.Dial("tcp", p.Addr())
	defer c.Close()
	if err := roundTrip(t, c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	p.Pause()
	c.Write([]byte("held"))
	c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if n, err := c.Read(make([]byte, 4)); n != 0 || !errors.Is(err, errTimeout(err)) {
		t.Fatalf("read while paused: %d %v, want a timeout", n, err)
	}
	p.Resume()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "held" {
		t.Fatalf("after resume: %q %v", got, err)
	}
	p.SetDelay(50 * time.Millisecond)
	start := time.Now()
	if err := roundTrip(t, c, []byte("slow")); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); rtt < 100*time.Millisecond {
		t.Fatalf("round trip %v with 50 ms each way", rtt)
	}
}

func errTimeout(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return errors.New("not a timeout")
}

func TestRefuse(t *testing.T) {
	p := newProxy(t)
	p.Refuse(true)
	// The reset may come before the dial returns, or on the first read.
	if c, err := net.Dial("tcp", p.Addr()); err == nil {
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if err := roundTrip(t, c, []byte("x")); err == nil {
			t.Fatal("a refused connection echoed")
		}
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("dial while refusing: %v", err)
	}
	p.Refuse(false)
	c2, _ := net.Dial("tcp", p.Addr())
	defer c2.Close()
	if err := roundTrip(t, c2, []byte("y")); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Refused != 1 {
		t.Fatalf("stats %+v", s)
	}
}
