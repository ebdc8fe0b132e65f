package main

import (
	"bytes"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	hdr  = `{"kind":"osr-workload-manifest","v":1,"seed":1,"roots":["a"]}`
	sha1 = "1111111111111111111111111111111111111111111111111111111111111111"
)

func TestParseManifest(t *testing.T) {
	begin := func(seq int, t int64, op, p, to string) string {
		s := `{"ev":"begin","seq":` + itoa(seq) + `,"t":` + itoa(int(t)) + `,"op":"` + op + `","path":"` + p + `"`
		if to != "" {
			s += `,"to":"` + to + `"`
		}
		return s + "}"
	}
	done := func(seq int, t int64, size int) string {
		return `{"ev":"done","seq":` + itoa(seq) + `,"t":` + itoa(int(t)) + `,"sha256":"` + sha1 + `","size":` + itoa(size) + `}`
	}
	create := begin(1, 10, "create", "a/d00/f1", "") + "\n" + done(1, 11, 5)
	for _, tc := range []struct {
		name, in, err string
	}{
		{"ok", hdr + "\n" + create, ""},
		{"in flight at the end", hdr + "\n" + create + "\n" + begin(2, 12, "delete", "a/d00/f1", ""), ""},
		{"empty", "", "manifest is empty"},
		{"kind", `{"kind":"x","v":1,"seed":1,"roots":["a"]}`, `manifest line 1: kind "x", want "osr-workload-manifest"`},
		{"version", `{"kind":"osr-workload-manifest","v":2,"seed":1,"roots":["a"]}`, "manifest line 1: version 2, this tool reads version 1"},
		{"no roots", `{"kind":"osr-workload-manifest","v":1,"seed":1,"roots":[]}`, "manifest line 1: 0 roots, want 1-64"},
		{"bad root", `{"kind":"osr-workload-manifest","v":1,"seed":1,"roots":["A/"]}`, `manifest line 1: bad or repeated root label "A/"`},
		{"unknown field", hdr + "\n" + `{"ev":"begin","seq":1,"t":1,"op":"create","path":"a/f","x":1}`, `manifest line 2: json: unknown field "x"`},
		{"time back", hdr + "\n" + begin(1, 10, "create", "a/f", "") + "\n" + done(1, 9, 5), "manifest line 3: time 9 goes back (previous 10)"},
		{"seq skips", hdr + "\n" + begin(2, 10, "create", "a/f", ""), "manifest line 2: begin of op 2, want op 1"},
		{"two in flight", hdr + "\n" + begin(1, 10, "create", "a/f", "") + "\n" + begin(2, 11, "create", "a/g", ""), "manifest line 3: begin of op 2 while op 1 is not done"},
		{"done twice", hdr + "\n" + create + "\n" + done(1, 12, 5), "manifest line 4: done of op 1, which is not in flight"},
		{"dot dot", hdr + "\n" + begin(1, 10, "create", "a/../f", ""), `manifest line 2: bad path "a/../f"`},
		{"no root", hdr + "\n" + begin(1, 10, "create", "f", ""), `manifest line 2: bad path "f": no root label`},
		{"other root", hdr + "\n" + begin(1, 10, "create", "b/f", ""), `manifest line 2: path "b/f" names root "b", not in the header`},
		{"overwrite absent", hdr + "\n" + begin(1, 10, "overwrite", "a/f", ""), "manifest line 2: overwrite of a/f, which does not exist"},
		{"create twice", hdr + "\n" + create + "\n" + begin(2, 12, "create", "a/d00/f1", ""), "manifest line 4: create of a/d00/f1, which exists"},
		{"unknown op", hdr + "\n" + begin(1, 10, "chmod", "a/f", ""), `manifest line 2: unknown op "chmod"`},
		{"rename onto itself", hdr + "\n" + create + "\n" + begin(2, 12, "rename", "a/d00/f1", "a/d00/f1"), "manifest line 4: rename to a/d00/f1, which exists"},
		{"rename changes", hdr + "\n" + create + "\n" + begin(2, 12, "rename", "a/d00/f1", "a/d01/g") + "\n" + done(2, 13, 6), "manifest line 5: rename of a/d00/f1 changed its content"},
		{"append shrinks", hdr + "\n" + create + "\n" + begin(2, 12, "append", "a/d00/f1", "") + "\n" + done(2, 13, 5), "manifest line 5: append to a/d00/f1 did not grow it (5 to 5 bytes)"},
		{"bad sha", hdr + "\n" + begin(1, 10, "create", "a/f", "") + "\n" + `{"ev":"done","seq":1,"t":11,"sha256":"zz","size":1}`, `manifest line 3: bad sha256 "zz"`},
		{"trailing garbage", hdr + "\n" + create + " {}", "manifest line 3: data after the object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseManifest(strings.NewReader(tc.in))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(m.Ops) == 0 || m.Ops[0].Result.Size != 5 {
					t.Fatalf("ops %+v", m.Ops)
				}
				return
			}
			if err == nil || err.Error() != tc.err {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// FuzzParseManifest: a manifest that parses can be checked against an empty directory
// without error, and a bad one gives an error, never a panic.
func FuzzParseManifest(f *testing.F) {
	empty := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseManifest(bytes.NewReader(data))
		if err != nil {
			return
		}
		roots := map[string]string{}
		for _, r := range m.Header.Roots {
			roots[r] = filepath.Join(empty, "none")
		}
		if _, err := verifyRoots(m, roots, 1<<62, 0); err != nil {
			t.Fatalf("verify of a parsed manifest: %v", err)
		}
	})
}
