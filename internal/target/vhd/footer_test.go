package vhd

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"
	"time"
)

func TestAlignedSize(t *testing.T) {
	for _, tc := range []struct{ in, want int64 }{
		{0, 0},
		{-5, 0},
		{1, MiB},
		{512, MiB},
		{MiB, MiB},
		{MiB + 1, 2 * MiB},
		{10*MiB - 4096, 10 * MiB},
		{2<<30 + 12345, 2<<30 + MiB},
	} {
		if got := AlignedSize(tc.in); got != tc.want {
			t.Errorf("AlignedSize(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestComputeGeometry(t *testing.T) {
	for _, tc := range []struct {
		size int64
		want Geometry
	}{
		// The first four are the sizes and geometries qemu-img wrote for 10M, 1000M, 3G and 127G.
		{10514432, Geometry{302, 4, 17}},
		{0x3e820000, Geometry{2032, 16, 63}},
		{0xc003c000, Geometry{6242, 16, 63}},
		{0x1fc0002000, Geometry{65279, 16, 255}},
		{MiB, Geometry{30, 4, 17}},
		{10 * MiB, Geometry{301, 4, 17}},
		{512, Geometry{0, 4, 17}},
		// Beyond 65535×16×255 sectors the geometry is capped.
		{4 << 40, Geometry{65535, 16, 255}},
		{65535 * 16 * 255 * 512, Geometry{65535, 16, 255}},
		// Exactly 65535×16×63 sectors switches to 255 sectors per track.
		{65535 * 16 * 63 * 512, Geometry{16191, 16, 255}},
		// 31 sectors per track.
		{1024 * 16 * 17 * 512, Geometry{561, 16, 31}},
	} {
		if got := ComputeGeometry(tc.size); got != tc.want {
			t.Errorf("ComputeGeometry(%d) = %+v, want %+v", tc.size, got, tc.want)
		}
	}
}

func TestTimestamp(t *testing.T) {
	for _, tc := range []struct {
		in   time.Time
		want uint32
	}{
		{time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), 0},
		{time.Date(2000, 1, 1, 0, 1, 0, 0, time.UTC), 60},
		{time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), 849441600},
		{time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), 0xFFFFFFFF},
	} {
		if got := Timestamp(tc.in); got != tc.want {
			t.Errorf("Timestamp(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
	f := Footer{Timestamp: 849441600}
	if got := f.Time(); !got.Equal(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("Time() = %v", got)
	}
}

// TestMarshalMatchesQemu rebuilds the footer qemu-img wrote for a 10M fixed image from its fields
// and expects the same 512 bytes (checksum included).
func TestMarshalMatchesQemu(t *testing.T) {
	golden, err := os.ReadFile("testdata/qemu-10M.footer")
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFixedFooter(10514432, time.Unix(0, 0), [16]byte{})
	if err != nil {
		t.Fatal(err)
	}
	f.Timestamp = binary.BigEndian.Uint32(golden[24:])
	f.CreatorApp = [4]byte{'q', 'e', 'm', 'u'}
	f.CreatorVersion = 0x00050003
	copy(f.UniqueID[:], golden[68:84])
	if got := f.Marshal(); !bytes.Equal(got, golden) {
		t.Fatalf("marshal differs from qemu's footer:\n got %x\nwant %x", got[:96], golden[:96])
	}
	p, err := ParseFooter(golden)
	if err != nil {
		t.Fatal(err)
	}
	f.Checksum = binary.BigEndian.Uint32(golden[64:])
	if p != f {
		t.Fatalf("parsed %+v, want %+v", p, f)
	}
}

func TestNewFixedFooter(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	id := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	f, err := NewFixedFooter(3*MiB, now, id)
	if err != nil {
		t.Fatal(err)
	}
	b := f.Marshal()
	want := "636f6e6563746978" + "00000002" + "00010000" + "ffffffffffffffff" + "32a17340" +
		"6f737220" + "00010000" + "5769326b" + "0000000000300000" + "0000000000300000" +
		"005a" + "04" + "11" + "00000002"
	if got := hexs(b[:64]); got != want {
		t.Fatalf("footer head\n got %s\nwant %s", got, want)
	}
	if !bytes.Equal(b[68:84], id[:]) || b[84] != 0 || !bytes.Equal(b[85:], make([]byte, 427)) {
		t.Fatalf("footer tail %x", b[68:])
	}
	p, err := ParseFooter(b)
	if err != nil {
		t.Fatal(err)
	}
	f.Checksum = p.Checksum
	if p != f {
		t.Fatalf("round trip %+v, want %+v", p, f)
	}
	for _, size := range []int64{0, -512, 1000} {
		_, err := NewFixedFooter(size, now, id)
		want := "vhd: size " + itoa(size) + " is not a positive multiple of 512"
		if err == nil || err.Error() != want {
			t.Errorf("NewFixedFooter(%d): %v, want %q", size, err, want)
		}
	}
}

func TestParseFooterErrors(t *testing.T) {
	good, err := NewFixedFooter(MiB, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), [16]byte{9})
	if err != nil {
		t.Fatal(err)
	}
	mod := func(fn func(f *Footer)) []byte { f := good; fn(&f); return f.Marshal() }
	badSum := good.Marshal()
	badSum[100] = 1
	badCookie := good.Marshal()
	copy(badCookie, "conectiy")
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"short", make([]byte, 511), "vhd footer: 511 bytes, want 512"},
		{"cookie", badCookie, `vhd footer: cookie "conectiy": not a vhd footer`},
		{"zeros", make([]byte, 512), `vhd footer: cookie "\x00\x00\x00\x00\x00\x00\x00\x00": not a vhd footer`},
		{"checksum", badSum, "vhd footer: checksum 0x" + hex32(good.Marshal()[64:]) + ", computed 0x" + hex32(minus1(good.Marshal()[64:])) + ""},
		{"version", mod(func(f *Footer) { f.Version = 0x00020000 }), "vhd footer: format version 0x00020000, want 0x00010000"},
		{"dynamic", mod(func(f *Footer) { f.DiskType = DiskTypeDynamic }), "vhd footer: disk type 3 is not fixed (2)"},
		{"offset", mod(func(f *Footer) { f.DataOffset = 512 }), "vhd footer: data offset 0x200, want 0xffffffffffffffff for a fixed disk"},
		{"size0", mod(func(f *Footer) { f.CurrentSize = 0 }), "vhd footer: current size 0 is not a positive multiple of 512"},
		{"size-odd", mod(func(f *Footer) { f.CurrentSize = 1000 }), "vhd footer: current size 1000 is not a positive multiple of 512"},
		{"saved", mod(func(f *Footer) { f.SavedState = 7 }), "vhd footer: saved state 7, want 0 or 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFooter(tc.in)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("ParseFooter: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestReadFixed(t *testing.T) {
	f, err := NewFixedFooter(MiB, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), [16]byte{9})
	if err != nil {
		t.Fatal(err)
	}
	img := append(make([]byte, MiB), f.Marshal()...)
	if _, err := ReadFixed(bytes.NewReader(img), int64(len(img))); err != nil {
		t.Fatal(err)
	}
	long := append(make([]byte, 512), img...)
	_, err = ReadFixed(bytes.NewReader(long), int64(len(long)))
	if want := "vhd: footer size 1048576, but the file holds 1049088 bytes of data"; err == nil || err.Error() != want {
		t.Fatalf("ReadFixed: %v, want %q", err, want)
	}
	_, err = ReadFixed(bytes.NewReader(img[:600]), 600)
	if want := "vhd: file of 600 bytes is too small for a fixed vhd"; err == nil || err.Error() != want {
		t.Fatalf("ReadFixed: %v, want %q", err, want)
	}
}
