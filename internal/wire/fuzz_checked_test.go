package wire

import (
	"bytes"
	"errors"
	"testing"
)

// checkedAgrees checks ParseCheckedFrame against ParseFrame on b with limit max: whatever
// ParseFrame accepts, ParseCheckedFrame accepts the same way; a checksum mismatch is the only
// thing that ParseCheckedFrame lets through; any other refusal is the same refusal.
func checkedAgrees(t *testing.T, b []byte, max int) {
	t.Helper()
	orig := bytes.Clone(b)
	fr, n, err := ParseFrame(b, max)
	cf, cn, cerr := ParseCheckedFrame(b, max)
	if !bytes.Equal(b, orig) {
		t.Fatal("parsing changed its input")
	}
	switch {
	case err == nil:
		if cerr != nil {
			t.Fatalf("ParseFrame accepts, ParseCheckedFrame: %v", cerr)
		}
		if cn != n || cf.Type != fr.Type || !bytes.Equal(cf.Payload, fr.Payload) || !bytes.Equal(cf.Raw, fr.Raw) {
			t.Fatalf("ParseCheckedFrame gives %s of %d bytes, ParseFrame %s of %d", cf.Type, cn, fr.Type, n)
		}
	case errors.Is(err, ErrChecksum):
		if err != ErrChecksum {
			t.Fatalf("checksum error %q is not ErrChecksum itself", err)
		}
		if cerr != nil {
			t.Fatalf("ParseCheckedFrame refuses a frame whose only fault is its checksum: %v", cerr)
		}
		// With the checksum made right, ParseFrame accepts exactly what ParseCheckedFrame gave.
		fixed := AppendFrame(nil, cf.Type, cf.Payload)
		if !bytes.Equal(fixed[:len(fixed)-TrailerSize], cf.Raw[:len(cf.Raw)-TrailerSize]) {
			t.Fatal("ParseCheckedFrame's frame does not re-encode to its own header and payload")
		}
		if _, fn, ferr := ParseFrame(fixed, max); ferr != nil || fn != cn {
			t.Fatalf("the frame with its checksum fixed: %d bytes, %v; want %d", fn, ferr, cn)
		}
	default:
		if cerr == nil || cerr.Error() != err.Error() {
			t.Fatalf("ParseFrame: %v; ParseCheckedFrame: %v", err, cerr)
		}
		if cn != 0 || cf.Raw != nil || cf.Payload != nil || cf.Type != 0 {
			t.Fatalf("refused, yet ParseCheckedFrame gives %s of %d bytes", cf.Type, cn)
		}
	}
	if cerr == nil {
		if cn != HeaderSize+len(cf.Payload)+TrailerSize || cn > len(b) || !bytes.Equal(cf.Raw, b[:cn]) ||
			!bytes.Equal(cf.Payload, b[HeaderSize:cn-TrailerSize]) || cap(cf.Raw) != cn {
			t.Fatalf("ParseCheckedFrame's frame of %d bytes is not the start of the input", cn)
		}
	}
}

// FuzzParseCheckedFrame: ParseCheckedFrame never panics and agrees with ParseFrame but for the
// checksum, under the default limit and a small one.
func FuzzParseCheckedFrame(f *testing.F) {
	f.Add(AppendFrame(nil, TypePing, []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	f.Add(badSum(AppendFrame(nil, TypeZero, []byte{5, 3, 's', 'd', 'a', 10, 1})))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkedAgrees(t, b, 0)
		checkedAgrees(t, b, 1<<10)
	})
}

// badSum flips a bit of a frame's checksum.
func badSum(raw []byte) []byte {
	raw = bytes.Clone(raw)
	raw[len(raw)-1] ^= 0x10
	return raw
}

// ParseCheckedFrame skips only the checksum: header and length are checked as ParseFrame does,
// with the same messages.
func TestParseCheckedFrame(t *testing.T) {
	blocks := testBlocks(2, 5)
	bp, err := blocks.AppendPayload(nil)
	if err != nil {
		t.Fatal(err)
	}
	good := AppendFrame(nil, TypeBlocks, bp)
	corrupt := bytes.Clone(good)
	corrupt[HeaderSize+40] ^= 1 // a data byte: the checksum no longer matches
	for _, tc := range []struct {
		name     string
		b        []byte
		max      int
		n        int    // the length ParseCheckedFrame gives, 0 when it refuses
		err      string // ParseCheckedFrame's error
		parseErr error  // ParseFrame's error when it differs (nil: the same)
	}{
		{"good", good, 0, len(good), "", nil},
		{"good, trailing bytes", append(bytes.Clone(good), 1, 2, 3), 0, len(good), "", nil},
		{"bad checksum", badSum(good), 0, len(good), "", ErrChecksum},
		{"corrupt payload", corrupt, 0, len(good), "", ErrChecksum},
		{"empty", nil, 0, 0, "truncated frame header: 0 bytes", nil},
		{"short header", good[:7], 0, 0, "truncated frame header: 7 bytes", nil},
		{"truncated", good[:len(good)-1], 0, 0, "truncated Blocks frame: 8243 of 8244 bytes", nil},
		{"unknown type", append([]byte{99}, good[1:]...), 0, 0, "unknown frame type 99", nil},
		{"type 0", append([]byte{0}, good[1:]...), 0, 0, "unknown frame type 0", nil},
		{"reserved bits", append([]byte{4, 0, 1}, good[3:]...), 0, 0, "frame header has reserved bits set (00 01 00)", nil},
		{"over the limit", good, 8000, 0, "frame of 8232 bytes exceeds the limit of 8000 bytes", nil},
		{"over the default limit", []byte{4, 0, 0, 0, 1, 0, 0x80, 0}, 0, 0, "frame of 8388609 bytes exceeds the limit of 8388608 bytes", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, n, err := ParseCheckedFrame(tc.b, tc.max)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || n != 0 {
					t.Fatalf("got %d, %v; want %q", n, err, tc.err)
				}
			} else if err != nil || n != tc.n || f.Type != TypeBlocks || !bytes.Equal(f.Raw, tc.b[:n]) {
				t.Fatalf("got %s of %d bytes, %v; want Blocks of %d", f.Type, n, err, tc.n)
			}
			_, _, perr := ParseFrame(tc.b, tc.max)
			switch {
			case tc.parseErr != nil:
				if perr != tc.parseErr {
					t.Fatalf("ParseFrame: %v, want %v", perr, tc.parseErr)
				}
			case tc.err != "":
				if perr == nil || perr.Error() != tc.err {
					t.Fatalf("ParseFrame: %v, want %q", perr, tc.err)
				}
			case perr != nil:
				t.Fatalf("ParseFrame: %v", perr)
			}
			checkedAgrees(t, tc.b, tc.max)
		})
	}
	// The frame ParseCheckedFrame accepts despite its checksum decodes to what was sent but for
	// the corrupted byte: nothing else verifies it (the caller's memory is what vouches for it).
	f, _, err := ParseCheckedFrame(corrupt, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got Blocks
	if err := got.Decode(f.Payload); err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(); err == nil || err.Error() != "disk sda block 1000: block fingerprint mismatch" {
		t.Fatalf("Verify of the corrupted frame's blocks: %v", err)
	}
}
