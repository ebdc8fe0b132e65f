package vault

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzDecodeBody: request bodies from the network (a configuration server's heartbeat and
// inventory, a registration) either decode and validate, or fail with a 4xx Error; never a panic
// or a 5xx.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range fuzzBodySeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error) {
			if err == nil {
				return
			}
			if st := StatusOf(err); st < 400 || st >= 500 {
				t.Fatalf("status %d for %q: %v", st, b, err)
			}
		}
		req := func() *http.Request {
			r := httptest.NewRequest("POST", "/", bytes.NewReader(b))
			r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, MaxBodyBytes)
			return r
		}
		var hb Heartbeat
		if err := decode(req(), &hb); err == nil {
			check(hb.validate())
		} else {
			check(err)
		}
		var inv Inventory
		check(decode(req(), &inv))
		var rr RegisterRequest
		check(decode(req(), &rr))
	})
}

func fuzzBodySeeds() [][]byte {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	hb, _ := json.Marshal(Heartbeat{Time: now, ProcessServers: []PSHealth{{Name: "ps1", LastSeen: now, CPUPercent: 12.5, CacheFreePercent: 70}},
		Agents: []AgentStatus{{Machine: "web01", LastSeen: now}}, Items: []ItemReport{{Machine: "web01", State: "protected", LastPointTime: &now}}})
	inv, _ := json.Marshal(Inventory{Machines: []Machine{{Name: "web01", Source: "agent", Disks: []MachineDisk{{Name: "sda", SizeBytes: 1 << 30}}}}})
	reg, _ := json.Marshal(RegisterRequest{RegistrationKey: "osr-regkey-1.x.y", Name: "cs1", CSRPEM: "-----BEGIN CERTIFICATE REQUEST-----", ClientTime: now})
	return [][]byte{hb, inv, reg, []byte(""), []byte("{"), []byte("[]"), []byte(`{"items":[{"state":"bogus"}]}`),
		[]byte(`{"process_servers":[{"name":"p","cpu_percent":1e309}]}`), []byte(`{"time":"yesterday"}`), []byte(`{"machines":null} {}`),
		[]byte(`{"unknown":1}`), []byte(`{"process_servers":[{"name":""}]}`)}
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzDecodeBody when OSR_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("OSR_WRITE_SEEDS") != "1" {
		return
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeBody")
	os.MkdirAll(dir, 0o755)
	for i, s := range fuzzBodySeeds() {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
