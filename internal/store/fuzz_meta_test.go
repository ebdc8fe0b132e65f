package store

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// Fuzz targets for the small JSON objects of a store: config, lock, condemnation. Seeds are in
// testdata/fuzz/<target>/.

func FuzzConfig(f *testing.F) {
	f.Add([]byte(`{"format":"osr-vault-store","version":1,"id":"ab","created":"2026-11-28T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := parseConfig(b, "file:///x")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "file:///x does not hold") && !strings.HasPrefix(err.Error(), "the store at file:///x has") {
				t.Fatalf("unexpected error text: %v", err)
			}
			return
		}
		if cfg.Format != formatName || cfg.Version != FormatVersion {
			t.Fatalf("accepted config %+v", cfg)
		}
	})
}

func FuzzLock(f *testing.F) {
	f.Add([]byte(`{"kind":"write","hostname":"h","pid":1,"created":"2026-11-28T00:00:00Z","refreshed":"2026-11-28T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		li, err := decodeLockInfo(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		again, _ := json.Marshal(li)
		li2, err := decodeLockInfo(again)
		if err != nil || !li2.Created.Equal(li.Created) || li2.Kind != li.Kind || li2.PID != li.PID {
			t.Fatalf("round trip: %+v vs %+v (%v)", li, li2, err)
		}
	})
}

func FuzzCondemnation(f *testing.F) {
	f.Add([]byte(`{"time":"2026-11-28T00:00:00Z","packs":["` + strings.Repeat("ab", 32) + `"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		when, ids, err := decodeCondemnation(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		packs := make([]string, len(ids))
		for i, id := range ids {
			packs[i] = id.String()
		}
		again, _ := json.Marshal(condemnation{Time: when, Packs: packs})
		when2, ids2, err := decodeCondemnation(again)
		if err != nil || !when2.Equal(when) || len(ids2) != len(ids) {
			t.Fatalf("round trip: %v %v (%v)", when2, ids2, err)
		}
	})
}
