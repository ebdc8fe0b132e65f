package wire

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// testTLS returns a server and a client configuration of TLS 1.3 for a self-signed certificate
// of 127.0.0.1.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "stream test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	server = &tls.Config{MinVersion: tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}
	client = &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots, ServerName: "127.0.0.1"}
	return server, client
}

// countConn counts the Write calls that reach a connection and the TLS records in what they
// wrote (the record layer: a 5-byte header whose last two bytes are the length of the rest).
type countConn struct {
	net.Conn

	mu      sync.Mutex
	writes  int
	records int
	hdr     []byte // the part of a record header seen so far
	body    int    // bytes of the current record's body still to come
}

func (c *countConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	for q := p; len(q) > 0; {
		if c.body > 0 {
			k := min(c.body, len(q))
			c.body -= k
			q = q[k:]
			continue
		}
		k := min(5-len(c.hdr), len(q))
		c.hdr = append(c.hdr, q[:k]...)
		q = q[k:]
		if len(c.hdr) == 5 {
			c.records++
			c.body = int(binary.BigEndian.Uint16(c.hdr[3:5]))
			c.hdr = c.hdr[:0]
		}
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// counts returns the writes and the records so far.
func (c *countConn) counts() (writes, records int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes, c.records
}

// streamPair connects a client Conn over TLS over a StreamConn over a counted TCP connection to
// a server Conn over TLS over a StreamConn (as the process server has it), both past the wire
// handshake.
func streamPair(t *testing.T) (client *Conn, raw *countConn, server *Conn) {
	t.Helper()
	scfg, ccfg := testTLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		nc  net.Conn
		c   *Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			ch <- accepted{nil, nil, err}
			return
		}
		tc := tls.Server(NewStreamConn(nc), scfg)
		if err := tc.Handshake(); err != nil {
			ch <- accepted{nc, nil, err}
			return
		}
		c := NewConn(tc, Options{})
		_, err = c.Handshake()
		ch <- accepted{nc, c, err}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	raw = &countConn{Conn: nc}
	tc := tls.Client(NewStreamConn(raw), ccfg)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	client = NewConn(tc, Options{})
	if client.stream == nil {
		t.Fatal("the Conn does not find the StreamConn under its TLS connection")
	}
	if _, err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	a := <-ch
	if a.nc != nil {
		t.Cleanup(func() { a.nc.Close() })
	}
	if a.err != nil {
		t.Fatal(a.err)
	}
	return client, raw, a.c
}

// streamFrame is one message of the stream test and the frame it must arrive as.
type streamFrame struct {
	m     Message
	queue bool // Queue, then Flush after it, instead of Send
	raw   []byte
}

// Frames of 1 MiB and small frames, sent interleaved over TLS on a StreamConn, arrive byte-exact,
// and the records of the large ones reach the socket in far fewer writes than there are records.
func TestStreamConnGathersRecords(t *testing.T) {
	client, raw, server := streamPair(t)
	const big = 24
	var frames []streamFrame
	for i := range big {
		b := testBlocks(MaxBlocksPerFrame, byte(i))
		b.Seq, b.First = uint64(i), uint64(i)*MaxBlocksPerFrame
		p, err := b.AppendPayload(nil)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, streamFrame{m: b, raw: AppendFrame(nil, TypeBlocks, p)})
		var small Message = &Ping{Nonce: uint64(i)}
		if i%3 == 1 {
			small = &Zero{Seq: uint64(i), Disk: "sdb", First: uint64(i) * 7, Count: 3}
		}
		p, err = small.AppendPayload(nil)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, streamFrame{m: small, queue: i%2 == 0, raw: AppendFrame(nil, small.Type(), p)})
	}

	errc := make(chan error, 1)
	go func() {
		for i, want := range frames {
			f, err := server.ReadFrame()
			if err != nil {
				errc <- fmt.Errorf("frame %d: %w", i, err)
				return
			}
			if !bytes.Equal(f.Raw, want.raw) {
				errc <- fmt.Errorf("frame %d (%s): %d bytes differ from the %d sent", i, f.Type, len(f.Raw), len(want.raw))
				return
			}
		}
		errc <- nil
	}()

	var bigWrites, bigRecords, smallWrites, smallRecords int
	for i, f := range frames {
		w0, r0 := raw.counts()
		var err error
		if f.queue {
			if err = client.Queue(f.m); err == nil {
				err = client.Flush()
			}
		} else {
			err = client.Send(f.m)
		}
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		w1, r1 := raw.counts()
		if f.m.Type() == TypeBlocks {
			bigWrites, bigRecords = bigWrites+w1-w0, bigRecords+r1-r0
			// A frame is gathered StreamBufferSize at a time: a sixth write would be one too many.
			if w := w1 - w0; w < 1 || w > (len(f.raw)+StreamBufferSize-1)/StreamBufferSize+1 {
				t.Errorf("frame %d of %d bytes: %d writes", i, len(f.raw), w)
			}
		} else {
			smallWrites, smallRecords = smallWrites+w1-w0, smallRecords+r1-r0
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Logf("1 MiB frames: %d writes for %d records; small frames: %d writes for %d records",
		bigWrites, bigRecords, smallWrites, smallRecords)
	if bigRecords < big*64 {
		t.Fatalf("%d TLS records for %d frames of 1 MiB: the records are not of 16 KiB", bigRecords, big)
	}
	if bigWrites*8 >= bigRecords {
		t.Fatalf("%d writes for %d TLS records of 1 MiB frames: want fewer than 1/8", bigWrites, bigRecords)
	}
	// A small frame is one record, written when its Send (or Flush) ends: nothing is left held.
	if smallWrites != big || smallRecords != big {
		t.Fatalf("%d small frames: %d writes, %d records; want %d each", big, smallWrites, smallRecords, big)
	}
}

// Once the connection under the StreamConn is closed, Send returns its write error, for a frame
// that is gathered and written at the end of the Send as for one that fills the buffer.
func TestStreamConnWriteError(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Message
	}{
		{"small frame", &Ping{Nonce: 9}},
		{"1 MiB frame", func() Message { b := testBlocks(MaxBlocksPerFrame, 3); return b }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, raw, _ := streamPair(t)
			if err := client.Send(&Ping{Nonce: 1}); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("write tcp %s->%s: use of closed network connection", raw.LocalAddr(), raw.RemoteAddr())
			raw.Conn.Close()
			w0, _ := raw.counts()
			err := client.Send(tc.m)
			if err == nil || err.Error() != want || !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Send after close: %v, want %q", err, want)
			}
			if w1, _ := raw.counts(); w1 == w0 {
				t.Fatal("nothing was written to the closed connection: the error cannot be its")
			}
			// The stream stays broken: the next Send fails too.
			if err := client.Send(&Pong{Nonce: 2}); err == nil || !errors.Is(err, net.ErrClosed) {
				t.Fatalf("second Send after close: %v", err)
			}
		})
	}
}

// Outside a hold a StreamConn writes straight through; within one it gathers until the last
// release, and a write of StreamBufferSize or more goes out on its own after what was gathered.
func TestStreamConnHold(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	raw := &countConn{Conn: a}
	s := NewStreamConn(raw)
	got := make(chan []byte, 1)
	go func() {
		var all []byte
		buf := make([]byte, 64<<10)
		for {
			n, err := b.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil {
				got <- all
				return
			}
		}
	}()
	// The counting parser sees these as records: headers of 5 bytes with a length.
	rec := func(n int, fill byte) []byte {
		r := append([]byte{23, 3, 3}, byte(n>>8), byte(n))
		return append(r, bytes.Repeat([]byte{fill}, n)...)
	}
	var want []byte
	write := func(p []byte) {
		t.Helper()
		if n, err := s.Write(p); err != nil || n != len(p) {
			t.Fatalf("write of %d bytes: %d, %v", len(p), n, err)
		}
		want = append(want, p...)
	}
	check := func(what string, writes int) {
		t.Helper()
		if w, _ := raw.counts(); w != writes {
			t.Fatalf("%s: %d writes, want %d", what, w, writes)
		}
	}
	write(rec(10, 1))
	check("outside a hold", 1)
	s.hold()
	s.hold()
	for i := range 10 {
		write(rec(1000, byte(i)))
	}
	check("within two holds", 1)
	if err := s.release(); err != nil {
		t.Fatal(err)
	}
	check("after the inner release", 1)
	if err := s.release(); err != nil {
		t.Fatal(err)
	}
	check("after the last release", 2)
	s.hold()
	for i := range 20 { // 20 × 16389 bytes: the buffer is written when the next does not fit
		write(rec(16384, byte(i)))
	}
	check("16 records of 16 KiB gathered", 3)
	write(bytes.Repeat([]byte{7}, StreamBufferSize)) // a large write: what was gathered, then it
	check("a write of StreamBufferSize", 5)
	if err := s.release(); err != nil {
		t.Fatal(err)
	}
	check("release with nothing gathered", 5)
	a.Close()
	if all := <-got; !bytes.Equal(all, want) {
		t.Fatalf("the pipe got %d bytes, want %d in order", len(all), len(want))
	}
}
