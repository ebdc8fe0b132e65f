package state

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

func sampleMap() *Map {
	m := NewMap("sda", 5*4096+100)
	m.Seq = 42
	m.PointID = "3f2a9c"
	m.Fingerprints[1] = tracker.HashOf(make([]byte, 4096))
	m.Fingerprints[5] = tracker.Fingerprint{1, 2, 3}
	return m
}

func TestMapRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m := sampleMap()
	if err := SaveMap(dir, m); err != nil {
		t.Fatal(err)
	}
	got, err := LoadMap(dir, "sda")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip: %+v, want %+v", got, m)
	}
	if _, err := LoadMap(dir, "sdb"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing map: %v", err)
	}
	if err := os.Rename(MapPath(dir, "sda"), MapPath(dir, "sdc")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadMap(dir, "sdc"); err == nil || err.Error() != MapPath(dir, "sdc")+`: map of disk "sda", want "sdc"` {
		t.Fatalf("renamed map: %v", err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*")); len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
}

func TestDecodeMapErrors(t *testing.T) {
	good, err := sampleMap().Encode()
	if err != nil {
		t.Fatal(err)
	}
	resum := func(b []byte) []byte {
		b = append([]byte(nil), b...)
		body := b[:len(b)-8]
		binary.LittleEndian.PutUint64(b[len(b)-8:], xxh3Hash(body))
		return b
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		in   []byte
		err  string
	}{
		{"empty", nil, "replica map: truncated"},
		{"magic", mutate(func(b []byte) []byte { b[0] = 'x'; return b }), "replica map: not a replica map (bad magic)"},
		{"version", resum(mutate(func(b []byte) []byte { b[8] = 2; return b })), "replica map: version 2, this agent reads version 1"},
		{"flipped", mutate(func(b []byte) []byte { b[40] ^= 1; return b }), "replica map: checksum mismatch"},
		{"cut", resum(good[:len(good)-24]), "replica map: 72 bytes of fingerprints, want 96"},
		{"blocks", resum(mutate(func(b []byte) []byte { b[15+8+8+1+6] = 9; return b })), "replica map: 9 fingerprints for a disk of 6 blocks"},
		{"name", resum(mutate(func(b []byte) []byte { b[10] = 200; return b })), "replica map: truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeMap(tt.in)
			if err == nil || err.Error() != tt.err {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
	if _, err := (&Map{Disk: "", Size: 0}).Encode(); err == nil || err.Error() != `replica map: bad disk name ""` {
		t.Fatalf("encode without name: %v", err)
	}
}

func TestAgentState(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadAgent(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
	a := &Agent{Machine: "web01", NextSeq: 8, CommittedSeq: 7, PointID: "ab12", Running: true,
		CaptureTime: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	if err := SaveAgent(dir, a); err != nil {
		t.Fatal(err)
	}
	got, err := LoadAgent(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("round trip %+v, want %+v", got, a)
	}
	for _, tt := range []struct{ in, err string }{
		{`{"version":1,"machine":"m","next_seq":1,"running":false,"extra":1}`, `agent state: json: unknown field "extra"`},
		{`{"version":2,"machine":"m","next_seq":1}`, "agent state: version 2, this agent reads version 1"},
		{`{"version":1,"machine":"","next_seq":1}`, "agent state: no machine name"},
		{`{"version":1,"machine":"m","next_seq":3,"committed_seq":3}`, "agent state: next seq 3 must be above committed seq 3"},
		{`{"version":1,"machine":"m","next_seq":1} {}`, "agent state: trailing data"},
		{`nope`, "agent state: invalid character 'o' in literal null (expecting 'u')"},
	} {
		if _, err := DecodeAgent([]byte(tt.in)); err == nil || err.Error() != tt.err {
			t.Errorf("%s: error %v, want %q", tt.in, err, tt.err)
		}
	}
}
