package bootdisk

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

func TestMBRSector(t *testing.T) {
	s, err := mbrSector([]byte{0xfa, 0x31}, 0x01020304, 0x83, 2048, 63488)
	if err != nil {
		t.Fatal(err)
	}
	// first 2048 = C0 H32 S33; last 65535 = C4 H20 S16.
	want := []byte{0x80, 0x20, 0x21, 0x00, 0x83, 0x14, 0x10, 0x04, 0x00, 0x08, 0, 0, 0x00, 0xf8, 0, 0}
	if !bytes.Equal(s[446:462], want) || s[510] != 0x55 || s[511] != 0xaa || s[0] != 0xfa || s[440] != 4 {
		t.Fatalf("entry % x", s[446:462])
	}
	if _, err := mbrSector(make([]byte, 441), 0, 0x83, 2048, 1); err == nil || err.Error() != "boot code is longer than 440 bytes" {
		t.Fatalf("err = %v", err)
	}
}

func TestInitramfsLayout(t *testing.T) {
	var buf bytes.Buffer
	if err := writeInitramfs(&buf, []cpioEntry{{name: "init", mode: sIFREG | 0o755, data: []byte("abc")}}); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(zr)
	// header (110) + "init\0" (5) padded to 116, "abc" padded to 4, then the trailer.
	if string(b[:6]) != "070701" || string(b[110:115]) != "init\x00" || string(b[116:119]) != "abc" || string(b[120:126]) != "070701" || len(b)%4 != 0 {
		t.Fatalf("archive %q", b[:130])
	}
}
