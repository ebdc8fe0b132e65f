package wire

import (
	"bytes"
	"io"
	"reflect"
	"testing"
)

// FuzzFrame: any bytes either parse as a frame whose checksum holds or give an error; the Conn
// reader and ParseFrame agree.
func FuzzFrame(f *testing.F) {
	f.Add(AppendFrame(nil, TypePing, []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	f.Add(AppendFrame(nil, TypeHello, []byte(`{"machine":"a"}`)))
	f.Add([]byte{4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := ParseFrame(b, 1<<16)
		c := NewConn(rw{bytes.NewReader(b), io.Discard}, Options{MaxPayload: 1 << 16})
		cf, cerr := c.ReadFrame()
		if (err == nil) != (cerr == nil) {
			t.Fatalf("ParseFrame %v, Conn %v", err, cerr)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(fr.Raw, cf.Raw) || n != len(fr.Raw) || fr.Type != cf.Type {
			t.Fatal("ParseFrame and Conn disagree")
		}
		if !bytes.Equal(AppendFrame(nil, fr.Type, fr.Payload), fr.Raw) {
			t.Fatal("re-encoding differs")
		}
	})
}

func FuzzHandshake(f *testing.F) {
	f.Add(AppendHandshake(nil, Local))
	f.Add(AppendHandshake(nil, Versions{2, 9}))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseHandshake(b)
		if err != nil {
			return
		}
		if !bytes.Equal(AppendHandshake(nil, v), b) {
			t.Fatal("re-encoding differs")
		}
		if got, err := Negotiate(Local, v); err == nil && (got < v.Min || got > v.Max) {
			t.Fatalf("negotiated %d outside %v", got, v)
		}
	})
}

// fuzzMessage checks that a decoded message re-encodes to something that decodes to the same.
func fuzzMessage(t *testing.T, typ Type, p []byte) {
	m := New(typ)
	if err := m.Decode(p); err != nil {
		return
	}
	enc, err := m.AppendPayload(nil)
	if err != nil {
		t.Fatalf("%s decoded but does not encode: %v", typ, err)
	}
	m2 := New(typ)
	if err := m2.Decode(enc); err != nil {
		t.Fatalf("%s re-encoding does not decode: %v", typ, err)
	}
	if !reflect.DeepEqual(m, m2) {
		t.Fatalf("%s: %+v != %+v", typ, m, m2)
	}
}

func addPayload(f *testing.F, m Message) {
	b, err := m.AppendPayload(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

func FuzzBlocks(f *testing.F) {
	addPayload(f, testBlocks(1, 0))
	addPayload(f, testBlocks(3, 9))
	f.Fuzz(func(t *testing.T, p []byte) { fuzzMessage(t, TypeBlocks, p) })
}

func FuzzZero(f *testing.F) {
	addPayload(f, Zero{Seq: 1, Disk: "sda", First: 3, Count: 9})
	f.Fuzz(func(t *testing.T, p []byte) { fuzzMessage(t, TypeZero, p) })
}

func FuzzFingerprints(f *testing.F) {
	addPayload(f, Fingerprints{Disk: "sda", First: 3, Point: "p", Fingerprints: make([]byte, 32)})
	f.Fuzz(func(t *testing.T, p []byte) { fuzzMessage(t, TypeFingerprints, p) })
}

func FuzzFingerprintsRequest(f *testing.F) {
	addPayload(f, FingerprintsRequest{Disk: "sda", First: 3, Count: 100})
	f.Fuzz(func(t *testing.T, p []byte) { fuzzMessage(t, TypeFingerprintsRequest, p) })
}

// FuzzSmall covers Durable, Ping and Pong: the first byte picks the type.
func FuzzSmall(f *testing.F) {
	for _, m := range []Message{Durable{Seq: 5}, Ping{Nonce: 1}, Pong{Nonce: 2}} {
		b, _ := m.AppendPayload([]byte{byte(m.Type())})
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) == 0 {
			return
		}
		switch Type(p[0]) {
		case TypeDurable, TypePing, TypePong:
			fuzzMessage(t, Type(p[0]), p[1:])
		}
	})
}

// FuzzControl covers the JSON messages: the first byte picks the type.
func FuzzControl(f *testing.F) {
	for _, m := range allMessages() {
		switch m.Type() {
		case TypeHello, TypeWelcome, TypeBeginPoint, TypeEndPoint, TypeCommitted, TypeStatus, TypeError:
			b, _ := m.AppendPayload([]byte{byte(m.Type())})
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) == 0 {
			return
		}
		switch Type(p[0]) {
		case TypeHello, TypeWelcome, TypeBeginPoint, TypeEndPoint, TypeCommitted, TypeStatus, TypeError:
			fuzzMessage(t, Type(p[0]), p[1:])
		}
	})
}
