//go:build linux

package azure

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleMeta() blobMeta {
	return blobMeta{Run: "job-7", Point: "p-42", Disk: "sda", DiskSize: 1 << 30,
		Created: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC), Watermark: 4 << 20}
}

func TestMetaRoundTrip(t *testing.T) {
	for _, complete := range []bool{false, true} {
		m := sampleMeta()
		m.Complete = complete
		md := m.encode()
		// The SDK hands names back with Go's header capitals.
		shouted := map[string]*string{}
		for k, v := range md {
			shouted[strings.ToUpper(k[:1])+k[1:]] = v
		}
		got, err := parseMeta(shouted)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip: %+v, want %+v", got, m)
		}
	}
}

// lineMeta reads "name=value" lines into metadata (the fuzz target's input form).
func lineMeta(s string) map[string]*string {
	md := map[string]*string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			md[k] = &v
		}
	}
	return md
}

func TestParseMetaErrors(t *testing.T) {
	good := "osr_format=1\nosr_run=r\nosr_point=p\nosr_disk=sda\nosr_disk_size=4096\nosr_created=1700000000\nosr_watermark=512"
	tests := []struct {
		name, in, err string
	}{
		{"not ours", "other=1", "the blob has no osr metadata"},
		{"format", strings.Replace(good, "osr_format=1", "osr_format=2", 1), `blob metadata osr_format is "2", want 1`},
		{"no run", strings.Replace(good, "osr_run=r\n", "", 1), "blob metadata osr_run is missing"},
		{"bad size", strings.Replace(good, "4096", "4k", 1), `blob metadata osr_disk_size is "4k", not a non-negative integer`},
		{"negative created", strings.Replace(good, "1700000000", "-5", 1), `blob metadata osr_created is "-5", not a non-negative integer`},
		{"no watermark", strings.Replace(good, "\nosr_watermark=512", "", 1), "blob metadata osr_watermark is missing"},
		{"unaligned watermark", strings.Replace(good, "=512", "=100", 1), "blob metadata osr_watermark 100 is not a page offset within the disk's 4096 bytes"},
		{"watermark past the end", strings.Replace(good, "=512", "=8192", 1), "blob metadata osr_watermark 8192 is not a page offset within the disk's 4096 bytes"},
		{"complete", good + "\nosr_complete=yes", `blob metadata osr_complete is "yes", want true or nothing`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseMeta(lineMeta(tt.in))
			if err == nil || err.Error() != tt.err {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
	if _, err := parseMeta(lineMeta("x=1")); !errors.Is(err, errNotOurs) {
		t.Errorf("foreign metadata: %v, want errNotOurs", err)
	}
	if m, err := parseMeta(lineMeta(good)); err != nil || m.Watermark != 512 || m.Complete {
		t.Errorf("good: %+v, %v", m, err)
	}
}

func TestSameUpload(t *testing.T) {
	a := sampleMeta()
	b := a
	b.Watermark, b.Complete, b.Created = 0, true, time.Time{}
	if !a.sameUpload(b) {
		t.Error("watermark, completion and creation time make another upload")
	}
	for _, change := range []func(*blobMeta){
		func(m *blobMeta) { m.Run = "other" }, func(m *blobMeta) { m.Point = "other" },
		func(m *blobMeta) { m.Disk = "sdb" }, func(m *blobMeta) { m.DiskSize++ },
	} {
		c := a
		change(&c)
		if a.sameUpload(c) {
			t.Errorf("%+v taken for the upload of %+v", c, a)
		}
	}
}

// FuzzParseMeta: any metadata either fails with an error or parses into values that encode and
// parse back to the same.
func FuzzParseMeta(f *testing.F) {
	f.Add("osr_format=1\nosr_run=r\nosr_point=p\nosr_disk=sda\nosr_disk_size=4096\nosr_created=1700000000\nosr_watermark=512")
	f.Add("OSR_FORMAT=1\nOsr_run=r\nosr_point=\nosr_disk=d\nosr_disk_size=0\nosr_created=0\nosr_watermark=0\nosr_complete=true")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseMeta(lineMeta(s))
		if err != nil {
			return
		}
		again, err := parseMeta(m.encode())
		if err != nil {
			t.Fatalf("encoded metadata of %+v does not parse: %v", m, err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip %+v, want %+v", again, m)
		}
	})
}
