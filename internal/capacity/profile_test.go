package capacity

import (
	"bytes"
	"strings"
	"testing"
)

const goodProfile = `{"version":1,"machine":"web01","tracker":"scan","started":"2026-12-01T10:00:00Z",
"interval_seconds":60,"block_size":4096,"disks":[{"name":"sda","path":"/dev/sda","size_bytes":10000,
"used_bytes":8192,"used_method":"seek_data","samples":[0,4096,12288],"changed_bytes":99}]}`

func TestDecode(t *testing.T) {
	p, err := Decode(strings.NewReader(goodProfile))
	if err != nil {
		t.Fatal(err)
	}
	d := p.Disks[0]
	// The document's changed_bytes (99) is recomputed from the samples.
	if d.ChangedBytes != 16384 || d.PeakIntervalByte != 12288 || d.BytesPerHour != 16384.0/180*3600 {
		t.Fatalf("summary %+v", d.Summary)
	}
}

func TestDecodeErrors(t *testing.T) {
	r := strings.NewReplacer
	for _, tc := range []struct {
		edit *strings.Replacer
		want string
	}{
		{r(`"version":1`, `"version":2`), `profile "web01": version 2, want 1`},
		{r(`"machine":"web01"`, `"machine":""`), `profile "": no machine`},
		{r(`"interval_seconds":60`, `"interval_seconds":0`), `profile "web01": interval_seconds 0, want more than 0 and at most 86400`},
		{r(`"block_size":4096`, `"block_size":512`), `profile "web01": block_size 512, want 4096`},
		{r(`"size_bytes":10000`, `"size_bytes":0`), `profile "web01": disk "sda": size_bytes 0, want more than 0`},
		{r(`"used_bytes":8192`, `"used_bytes":10001`), `profile "web01": disk "sda": used_bytes 10001, want 0 to size_bytes 10000`},
		{r(`[0,4096,12288]`, `[]`), `profile "web01": disk "sda": no samples`},
		{r(`[0,4096,12288]`, `[0,4095]`), `profile "web01": disk "sda": sample 1 is 4095 bytes, want a multiple of 4096 from 0 to 12288`},
		{r(`[0,4096,12288]`, `[16384]`), `profile "web01": disk "sda": sample 0 is 16384 bytes, want a multiple of 4096 from 0 to 12288`},
		{r(`"name":"sda"`, `"name":""`), `profile "web01": a disk has no name`},
		{r(`"disks":[`, `"disks":[{"name":"sda","size_bytes":1,"samples":[0]},`), `profile "web01": disk "sda" twice`},
		{r(`"disks":[{`, `"disks":[],"x":[{`), `profile "web01": no disks`},
		{r(`"version":1`, `"version":"1"`), `profile: not JSON: json: cannot unmarshal string into Go struct field Profile.version of type int`},
		{r(`}]}`, `}]}{}`), `profile: data after the document`},
	} {
		_, err := Decode(strings.NewReader(tc.edit.Replace(goodProfile)))
		if err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
	big := bytes.Repeat([]byte(" "), MaxProfileBytes+1)
	if _, err := Decode(bytes.NewReader(big)); err == nil || err.Error() != "profile: larger than 16777216 bytes" {
		t.Errorf("big: %v", err)
	}
}

// FuzzDecode: any input decodes to a checked profile or fails with an error; what decodes plans.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(goodProfile))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(bytes.NewReader(b))
		if err != nil {
			if p != nil {
				t.Fatal("profile with an error")
			}
			return
		}
		if err := p.check(); err != nil {
			t.Fatalf("decoded profile fails its check: %v", err)
		}
		if _, err := Compute([]*Profile{p}, Options{}); err != nil {
			t.Fatalf("decoded profile does not plan: %v", err)
		}
	})
}

func TestDecodeAll(t *testing.T) {
	two := strings.Replace(goodProfile, "web01", "db01", 1)
	for _, tc := range []struct {
		in   string
		want string // machines, or the error
	}{
		{goodProfile, "web01"},
		{goodProfile + "\n" + two, "web01 db01"},
		{"[" + goodProfile + "," + two + "]", "web01 db01"},
		{"  ", "profiles: none given"},
		{"[]", "profiles: none given"},
		{goodProfile + "{", "profiles: document 2: not JSON: unexpected EOF"},
		{"[1]", "profiles: document 1: profile: not JSON: json: cannot unmarshal number into Go value of type capacity.Profile"},
		{"[" + goodProfile, "profiles: not a JSON array: unexpected end of JSON input"},
		{two + strings.Replace(goodProfile, `"block_size":4096`, `"block_size":1`, 1), `profiles: document 2: profile "web01": block_size 1, want 4096`},
	} {
		ps, err := DecodeAll(strings.NewReader(tc.in))
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			var names []string
			for _, p := range ps {
				names = append(names, p.Machine)
			}
			got = strings.Join(names, " ")
		}
		if got != tc.want {
			t.Errorf("DecodeAll: %q, want %q", got, tc.want)
		}
	}
}

// FuzzDecodeAll: any input gives checked profiles or an error.
func FuzzDecodeAll(f *testing.F) {
	f.Add([]byte(goodProfile + goodProfile))
	f.Add([]byte("[" + goodProfile + "]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := DecodeAll(bytes.NewReader(b))
		if err != nil {
			if ps != nil {
				t.Fatal("profiles with an error")
			}
			return
		}
		for _, p := range ps {
			if err := p.check(); err != nil {
				t.Fatalf("decoded profile fails its check: %v", err)
			}
		}
	})
}
