package bootcheck

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeDefinition: any input decodes to a valid definition that re-encodes and decodes to
// the same, or gives an error; it never panics.
func FuzzDecodeDefinition(f *testing.F) {
	f.Add([]byte(`{"version":1,"name":"web01","source":"web01","point_id":"p1","point_time":"2026-12-01T10:00:00Z","firmware":"bios","cpus":2,"memory_mb":2048,"disks":[{"name":"sda","size_bytes":1048576,"format":"raw","file":"sda.raw"}],"nics":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDefinition(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		d2, err := DecodeDefinition(again)
		if err != nil {
			t.Fatalf("re-encoded definition does not decode: %v", err)
		}
		if d2.Name != d.Name || len(d2.Disks) != len(d.Disks) {
			t.Fatal("round trip changed the definition")
		}
	})
}
