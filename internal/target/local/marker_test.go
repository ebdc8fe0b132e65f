package local

import "testing"

func TestParseMarker(t *testing.T) {
	good := `{"version":1,"disk":"sda","format":"vhd","point_id":"p1","size_bytes":1000,"file_size":1049088,"bytes_written":600,"bytes_skipped":400}`
	m, err := parseMarker([]byte(good + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (marker{1, "sda", "vhd", "p1", 1000, 1049088, 600, 400}); m != want {
		t.Fatalf("marker %+v, want %+v", m, want)
	}
	if string(m.encode()) != good+"\n" {
		t.Fatalf("encode: %s", m.encode())
	}
	for _, tc := range []struct{ in, want string }{
		{``, "done marker: EOF"},
		{`{"version":2,"disk":"sda","format":"raw"}`, "done marker: version 2 is not supported (1)"},
		{`{"version":1,"disk":"sda","format":"raw","extra":1}`, `done marker: json: unknown field "extra"`},
		{good + ` {}`, "done marker: data after the JSON object"},
		{`{"version":1,"disk":"","format":"raw"}`, `done marker: disk "", format "raw"`},
		{`{"version":1,"disk":"sda","format":"vmdk"}`, `done marker: disk "sda", format "vmdk"`},
		{`{"version":1,"disk":"sda","format":"raw","size_bytes":1000,"file_size":1000,"bytes_written":600,"bytes_skipped":300}`, "done marker: sizes do not add up (size 1000, file 1000, written 600, skipped 300)"},
		{`{"version":1,"disk":"sda","format":"raw","size_bytes":1000,"file_size":999,"bytes_written":600,"bytes_skipped":400}`, "done marker: sizes do not add up (size 1000, file 999, written 600, skipped 400)"},
		{`{"version":1,"disk":"sda","format":"qcow2","size_bytes":1000,"file_size":0,"bytes_written":600,"bytes_skipped":400}`, "done marker: sizes do not add up (size 1000, file 0, written 600, skipped 400)"},
		{`{"version":1,"disk":"sda","format":"raw","size_bytes":1000,"file_size":1000,"bytes_written":-1,"bytes_skipped":1001}`, "done marker: sizes do not add up (size 1000, file 1000, written -1, skipped 1001)"},
	} {
		if _, err := parseMarker([]byte(tc.in)); err == nil || err.Error() != tc.want {
			t.Errorf("parseMarker(%s): %v, want %q", tc.in, err, tc.want)
		}
	}
	if _, err := parseMarker(make([]byte, 5000)); err == nil || err.Error() != "done marker: 5000 bytes, at most 4096" {
		t.Errorf("long marker: %v", err)
	}
}

// FuzzParseMarker: a marker either fails with an error or encodes and parses back to itself.
func FuzzParseMarker(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMarker(b)
		if err != nil {
			return
		}
		again, err := parseMarker(m.encode())
		if err != nil || again != m {
			t.Fatalf("round trip of %+v: %+v, %v", m, again, err)
		}
	})
}
