package crypto

// FuzzKeyFile: DecodeKeyFile and Unwrap must never panic on any key file, and must fail with the
// errors they document. Seeds are committed under testdata/fuzz/FuzzKeyFile/; the seed-* files are
// written by
//
//	go test ./internal/crypto -run '^TestUpdateFuzzSeeds$' -update-fuzz-seeds

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite the generated seed corpora (testdata/fuzz/*/seed-*)")

// fuzzPassword opens the valid seed key files.
var fuzzPassword = []byte("fuzz-password")

// cheapKDF keeps each Unwrap of a seed to well under a millisecond.
var cheapKDF = KDFParams{Time: 1, Memory: 64, Threads: 1}

func fuzzMasterKey() *MasterKey {
	var mk MasterKey
	for i := range mk.Encrypt {
		mk.Encrypt[i] = byte(1 + i)
		mk.Hash[i] = byte(0xa0 + i)
	}
	return &mk
}

// kdfExpensive reports whether Unwrap would run Argon2 with parameters that make a fuzz execution
// slow (up to 4 GiB and 100 passes are allowed). Parameters that deriveKEK refuses are cheap: they
// fail before Argon2 runs.
func kdfExpensive(p KDFParams) bool {
	usable := p.Time != 0 && p.Time <= 100 && p.Memory >= 8 && p.Memory <= maxKDFMemory && p.Threads != 0
	return usable && (p.Memory > 1024 || p.Time > 2 || p.Threads > 4)
}

func FuzzKeyFile(f *testing.F) {
	kf, err := WrapKey(fuzzMasterKey(), fuzzPassword, cheapKDF, time.Unix(0, 0), "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	b, _ := json.Marshal(kf)
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		kf, err := DecodeKeyFile(b)
		if err != nil {
			return
		}
		if kf.Version != 1 || kf.KDF != "argon2id" || len(kf.Salt) < 16 || len(kf.Data) < 12+16 {
			t.Fatalf("DecodeKeyFile accepted %+v", kf)
		}
		// To keep fuzzing fast, Unwrap is skipped when the key file asks for more than 1 MiB of
		// memory, 2 passes or 4 threads of Argon2 (Unwrap itself refuses only more than 4 GiB or 100
		// passes, which would make one execution take seconds).
		if kdfExpensive(kf.Params) {
			return
		}
		mk, err := kf.Unwrap(fuzzPassword)
		if err != nil {
			msg := err.Error()
			if !errors.Is(err, ErrWrongPassword) && !strings.HasPrefix(msg, "key file has unusable kdf parameters") &&
				!strings.HasPrefix(msg, "key file payload: ") {
				t.Fatalf("Unwrap: unexpected error: %v", err)
			}
			return
		}
		// What opened re-wraps and opens again to the same key.
		kf2, err := WrapKey(mk, fuzzPassword, cheapKDF, kf.Created, kf.Hostname)
		if err != nil {
			t.Fatal(err)
		}
		b2, err := json.Marshal(kf2)
		if err != nil {
			t.Fatal(err)
		}
		kf3, err := DecodeKeyFile(b2)
		if err != nil {
			t.Fatalf("re-wrapped key file does not decode: %v", err)
		}
		mk2, err := kf3.Unwrap(fuzzPassword)
		if err != nil || *mk2 != *mk {
			t.Fatalf("re-wrapped key file does not open to the same key: %v", err)
		}
		if _, err := NewKeys(mk); err != nil {
			t.Fatalf("unwrapped master key is unusable: %v", err)
		}
	})
}

func TestFuzzSeedsCommitted(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzKeyFile", "seed-*"))
	if len(files) < 5 {
		t.Errorf("FuzzKeyFile has %d committed seeds; regenerate them with -update-fuzz-seeds", len(files))
	}
}

// TestUpdateFuzzSeeds regenerates the seed corpus; it runs only with -update-fuzz-seeds.
func TestUpdateFuzzSeeds(t *testing.T) {
	if !*updateFuzzSeeds {
		t.Skip("run with -update-fuzz-seeds to regenerate testdata/fuzz/*/seed-*")
	}
	seeds := map[string][]byte{}
	marshal := func(kf *KeyFile) []byte {
		b, err := json.MarshalIndent(kf, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wrap := func(password []byte, p KDFParams) *KeyFile {
		kf, err := WrapKey(fuzzMasterKey(), password, p, time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), "fuzz-host")
		if err != nil {
			t.Fatal(err)
		}
		return kf
	}
	valid := marshal(wrap(fuzzPassword, cheapKDF))
	seeds["valid"] = valid
	seeds["valid-trunc-half"] = valid[:len(valid)/2]
	seeds["valid-trunc-1"] = valid[:len(valid)-1]
	seeds["valid-compact"], _ = json.Marshal(wrap(fuzzPassword, KDFParams{Time: 2, Memory: 8, Threads: 1}))
	seeds["valid-4-threads"] = marshal(wrap(fuzzPassword, KDFParams{Time: 1, Memory: 1024, Threads: 4}))
	seeds["other-password"] = marshal(wrap([]byte("another password"), cheapKDF))

	edit := func(name string, fn func(kf *KeyFile)) {
		kf := wrap(fuzzPassword, cheapKDF)
		fn(kf)
		seeds[name] = marshal(kf)
	}
	edit("data-flipped", func(kf *KeyFile) { kf.Data[20] ^= 1 })
	edit("salt-changed", func(kf *KeyFile) { kf.Salt[0] ^= 1 })
	edit("version-2", func(kf *KeyFile) { kf.Version = 2 })
	edit("kdf-scrypt", func(kf *KeyFile) { kf.KDF = "scrypt" })
	edit("salt-short", func(kf *KeyFile) { kf.Salt = kf.Salt[:15] })
	edit("data-short", func(kf *KeyFile) { kf.Data = kf.Data[:27] })
	edit("time-0", func(kf *KeyFile) { kf.Params.Time = 0 })
	edit("memory-too-small", func(kf *KeyFile) { kf.Params.Memory = 7 })
	edit("memory-too-large", func(kf *KeyFile) { kf.Params.Memory = maxKDFMemory + 1 })
	edit("memory-expensive", func(kf *KeyFile) { kf.Params.Memory = 64 * 1024 })
	edit("threads-0", func(kf *KeyFile) { kf.Params.Threads = 0 })
	// An authentic payload that is not a master key: only a seed can reach this path.
	edit("payload-not-json", func(kf *KeyFile) {
		aead, err := deriveKEK(fuzzPassword, kf.Salt, kf.Params)
		if err != nil {
			t.Fatal(err)
		}
		nonce := bytes.Repeat([]byte{9}, 12)
		kf.Data = aead.Seal(nonce, nonce, []byte("not a master key"), []byte(keyFileAD))
	})
	seeds["garbage"] = []byte("\x00\x01garbage")
	seeds["empty"] = []byte{}
	seeds["json-array"] = []byte(`[{"version":1}]`)
	seeds["wrong-types"] = []byte(`{"version":"1","kdf":1,"params":{"time":-1},"salt":"!!","data":7}`)

	dir := filepath.Join("testdata", "fuzz", "FuzzKeyFile")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range seeds {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("FuzzKeyFile: %d seeds", len(seeds))
}
