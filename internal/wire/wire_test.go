package wire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testBlocks(n int, seed byte) Blocks {
	m := Blocks{Seq: 7, Disk: "sda", First: 1000, Data: make([]byte, n*BlockSize)}
	for i := range m.Data {
		m.Data[i] = byte(i*31) ^ seed
	}
	m.SetFingerprints()
	return m
}

func allMessages() []Decoder {
	b := testBlocks(3, 1)
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	return []Decoder{
		&Hello{Machine: "web01", Disks: []Disk{{"sda", 1 << 30}, {"sdb", 4096}}, CommittedSeq: 4, CommittedPoint: "abc", Agent: "osr 1"},
		&Welcome{CommittedSeq: 4, CommittedPoint: "abc", Durable: 5, Server: "ps1"},
		&BeginPoint{Seq: 5, Base: 4, Kind: KindApp, Time: t0, Disks: []Disk{{"sda", 1 << 30}}},
		&b,
		&Zero{Seq: 5, Disk: "sda", First: 10, Count: 1 << 20},
		&EndPoint{Seq: 5, Blocks: 3, Zeroed: 1 << 20, Initial: map[string]int64{"sda": 1 << 20}, CaptureTime: t0.Add(time.Second)},
		&Durable{Seq: 5},
		&Committed{Seq: 5, Point: "def", Time: t0},
		&FingerprintsRequest{Disk: "sda", First: 0, Count: 4096},
		&Fingerprints{Disk: "sda", First: 3, Point: "def", Fingerprints: bytes.Repeat([]byte{9}, 32)},
		&Status{Reason: StatusCacheFull, Message: "cache 20% free", CacheFreePercent: 20, BacklogBytes: 5},
		&Ping{Nonce: 42},
		&Pong{Nonce: 42},
		&Error{Code: ErrCodeProtocol, Message: "bad"},
	}
}

func TestRoundTripOverConn(t *testing.T) {
	a, b := net.Pipe()
	ca, cb := NewConn(a, Options{}), NewConn(b, Options{})
	msgs := allMessages()
	errc := make(chan error, 1)
	go func() {
		if _, err := ca.Handshake(); err != nil {
			errc <- err
			return
		}
		for _, m := range msgs {
			if err := ca.Send(m); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	if v, err := cb.Handshake(); err != nil || v != Version1 {
		t.Fatalf("handshake: %d, %v", v, err)
	}
	for _, want := range msgs {
		f, err := cb.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if f.Type != want.Type() {
			t.Fatalf("type %s, want %s", f.Type, want.Type())
		}
		if _, n, err := ParseFrame(f.Raw, DefaultMaxPayload); err != nil || n != len(f.Raw) {
			t.Fatalf("raw frame does not parse: %d %v", n, err)
		}
		got, err := Decode(f)
		if err != nil {
			t.Fatalf("%s: %v", f.Type, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %+v, want %+v", f.Type, got, want)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestHandshake(t *testing.T) {
	for _, tc := range []struct {
		name    string
		a, b    Versions
		want    uint16
		wantErr string
	}{
		{"same", Versions{1, 1}, Versions{1, 1}, 1, ""},
		{"highest common", Versions{1, 3}, Versions{2, 5}, 3, ""},
		{"none", Versions{1, 1}, Versions{2, 3}, 0, "no common wire version: this side speaks 1-1, the peer 2-3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, y := net.Pipe()
			defer x.Close()
			defer y.Close()
			go NewConn(y, Options{Versions: tc.b}).Handshake()
			v, err := NewConn(x, Options{Versions: tc.a}).Handshake()
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || v != tc.want {
				t.Fatalf("got %d, %v; want %d", v, err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		in      []byte
		wantErr string
	}{
		{[]byte("GET / HTTP/1"), `peer is not an osr data-path endpoint (handshake starts with "GET / HT")`},
		{AppendHandshake(nil, Versions{0, 1}), "peer announces an invalid version range 0-1"},
		{AppendHandshake(nil, Versions{3, 2}), "peer announces an invalid version range 3-2"},
		{[]byte("osr"), "handshake is 3 bytes, want 12"},
	} {
		if _, err := ParseHandshake(tc.in); err == nil || err.Error() != tc.wantErr {
			t.Errorf("%q: got %v, want %q", tc.in, err, tc.wantErr)
		}
	}
}

func TestFrameErrors(t *testing.T) {
	good := AppendFrame(nil, TypePing, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }
	big := AppendFrame(nil, TypeBlocks, make([]byte, 100))
	for _, tc := range []struct {
		name    string
		in      []byte
		max     int
		wantErr string
	}{
		{"payload bit", flip(HeaderSize + 2), 0, "Ping frame: frame checksum mismatch"},
		{"checksum bit", flip(len(good) - 1), 0, "Ping frame: frame checksum mismatch"},
		{"type 0", append([]byte{0}, good[1:]...), 0, "unknown frame type 0"},
		{"type 200", append([]byte{200}, good[1:]...), 0, "unknown frame type 200"},
		{"reserved", flip(2), 0, "frame header has reserved bits set (00 01 00)"},
		{"too big", big, 99, "frame of 100 bytes exceeds the limit of 99 bytes"},
		{"truncated", good[:len(good)-1], 0, "read Ping frame: unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConn(rw{bytes.NewReader(tc.in), io.Discard}, Options{MaxPayload: tc.max})
			_, err := c.ReadFrame()
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("got %v, want %q", err, tc.wantErr)
			}
		})
	}
	if _, err := NewConn(rw{bytes.NewReader(flip(9)), io.Discard}, Options{}).ReadFrame(); !errors.Is(err, ErrChecksum) {
		t.Fatalf("not ErrChecksum: %v", err)
	}
	if _, _, err := ParseFrame(flip(9), 0); err != ErrChecksum {
		t.Fatalf("ParseFrame: %v", err)
	}
}

type rw struct {
	io.Reader
	io.Writer
}

func TestDecodeErrors(t *testing.T) {
	bl := testBlocks(2, 0)
	enc := func(m Message) []byte {
		b, err := m.AppendPayload(nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	blocks := enc(bl)
	for _, tc := range []struct {
		m       Decoder
		in      []byte
		wantErr string
	}{
		{&Blocks{}, blocks[:len(blocks)-1], "blocks: truncated: want 8192 bytes, have 8191"},
		{&Blocks{}, append(bytes.Clone(blocks), 0), "blocks: 1 trailing bytes"},
		{&Blocks{}, []byte{1, 3, 's', 'd', 'a', 0, 0}, "blocks: 0 blocks (want 1 to 256)"},
		{&Blocks{}, []byte{1, 3, 's', 'd', 'a', 0, 0x81, 0x02}, "blocks: 257 blocks (want 1 to 256)"},
		{&Blocks{}, []byte{1, 0}, "blocks: disk: name of 0 bytes (want 1 to 255)"},
		{&Blocks{}, []byte{1, 3, '.', 'd', 'a'}, `blocks: disk: name ".da" starts with a dot`},
		{&Blocks{}, []byte{0x80}, "blocks: truncated or overlong varint"},
		{&Zero{}, enc(Zero{Seq: 1, Disk: "a", First: 1, Count: 0}), "zero: seq 1, blocks 1+0 out of range"},
		{&Durable{}, []byte{0}, "durable: seq 0"},
		{&Ping{}, []byte{1}, "ping: payload of 1 bytes, want 8"},
		{&Hello{}, []byte(`{"machine":"a/b","disks":[{"name":"sda","size":1}]}`), `hello: machine: name "a/b" has a character outside [A-Za-z0-9._:@-]`},
		{&Hello{}, []byte(`{"machine":"a","disks":[]}`), "hello: no disks"},
		{&Hello{}, []byte(`{"machine":"a","disks":[{"name":"x","size":1},{"name":"x","size":1}]}`), "hello: disk x named twice"},
		{&Hello{}, []byte(`{`), "decode Hello: unexpected end of JSON input"},
		{&BeginPoint{}, []byte(`{"seq":3,"base":3,"kind":"app","disks":[{"name":"x","size":1}]}`), "begin point: base 3 is not below seq 3"},
		{&BeginPoint{}, []byte(`{"seq":3,"base":2,"kind":"full","disks":[{"name":"x","size":1}]}`), `begin point: unknown kind "full"`},
		{&Welcome{}, []byte(`{"committed_seq":3,"durable":2}`), "welcome: durable seq 2 is below committed seq 3"},
		{&FingerprintsRequest{}, enc(FingerprintsRequest{Disk: "a", Count: MaxFingerprints + 1}), "fingerprints request: 65537 blocks from 0 (want 1 to 65536)"},
	} {
		err := tc.m.Decode(tc.in)
		if err == nil || err.Error() != tc.wantErr {
			t.Errorf("%s %x: got %v, want %q", tc.m.Type(), tc.in, err, tc.wantErr)
		}
	}
}

func TestVerify(t *testing.T) {
	m := testBlocks(4, 3)
	if err := m.Verify(); err != nil {
		t.Fatal(err)
	}
	m.Data[2*BlockSize+5] ^= 1
	if err := m.Verify(); !errors.Is(err, ErrFingerprint) || err.Error() != "disk sda block 1002: block fingerprint mismatch" {
		t.Fatalf("got %v", err)
	}
	// The fingerprint is the store's: XXH3-128, big-endian.
	fp := Fingerprint(make([]byte, BlockSize))
	if got := strings.ToLower(string(hexs(fp[:]))); len(got) != 32 {
		t.Fatal(got)
	}
}

func hexs(b []byte) []byte {
	const d = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, d[c>>4], d[c&15])
	}
	return out
}

func TestSendRefusesOversize(t *testing.T) {
	c := NewConn(rw{bytes.NewReader(nil), io.Discard}, Options{MaxPayload: 1000})
	err := c.Send(testBlocks(1, 0))
	if err == nil || err.Error() != "Blocks frame of 4120 bytes exceeds the limit of 1000 bytes" {
		t.Fatalf("got %v", err)
	}
}

func TestNoAllocs(t *testing.T) {
	m := testBlocks(MaxBlocksPerFrame, 0)
	var buf bytes.Buffer
	w := NewConn(rw{nil, &buf}, Options{BufferSize: 1 << 10})
	if err := w.Send(m); err != nil {
		t.Fatal(err)
	}
	frame := bytes.Clone(buf.Bytes())
	allocs := testing.AllocsPerRun(50, func() {
		buf.Reset()
		if err := w.Send(&m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("Send: %.1f allocations per frame", allocs)
	}
	r := bytes.NewReader(frame)
	c := NewConn(rw{r, io.Discard}, Options{})
	var got Blocks
	allocs = testing.AllocsPerRun(50, func() {
		r.Reset(frame)
		c.r.Reset(r)
		f, err := c.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if err := got.Decode(f.Payload); err != nil {
			t.Fatal(err)
		}
		if err := got.Verify(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 { // the disk name
		t.Errorf("read+decode+verify: %.1f allocations per frame", allocs)
	}
}

// A Blocks frame, whose data the Conn writes without copying it, is byte for byte the frame of
// its encoded payload; other messages are unchanged.
func TestSendBlocksWithoutCopy(t *testing.T) {
	for _, n := range []int{1, 7, MaxBlocksPerFrame} {
		m := testBlocks(n, byte(n))
		p, err := m.AppendPayload(nil)
		if err != nil {
			t.Fatal(err)
		}
		want := AppendFrame(nil, TypeBlocks, p)
		for _, size := range []int{16, 1 << 10, 1 << 20} { // buffers smaller and larger than the data
			var buf bytes.Buffer
			c := NewConn(rw{nil, &buf}, Options{BufferSize: size})
			if err := c.Queue(m); err != nil {
				t.Fatal(err)
			}
			if err := c.Send(Ping{Nonce: 9}); err != nil {
				t.Fatal(err)
			}
			ping, _ := Ping{Nonce: 9}.AppendPayload(nil)
			if !bytes.Equal(buf.Bytes(), append(bytes.Clone(want), AppendFrame(nil, TypePing, ping)...)) {
				t.Fatalf("%d blocks, buffer %d: the frames differ from their encoding", n, size)
			}
		}
	}
}
