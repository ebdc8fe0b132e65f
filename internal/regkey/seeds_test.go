package regkey

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteSeeds regenerates testdata/fuzz/FuzzParse when OSR_WRITE_SEEDS=1.
func TestWriteSeeds(t *testing.T) {
	if os.Getenv("OSR_WRITE_SEEDS") != "1" {
		return
	}
	priv, _ := testSigner(0)
	good, _ := Sign(testKey(), priv)
	enc := base64.RawURLEncoding.EncodeToString
	sig := enc(make([]byte, 64))
	payload64, sig64, _ := strings.Cut(strings.TrimPrefix(good, Prefix), ".")
	seeds := map[string]string{
		"valid":           good,
		"valid-newline":   good + "\n",
		"empty":           "",
		"prefix-only":     Prefix,
		"no-signature":    Prefix + payload64,
		"short-signature": good[:len(good)-3],
		"bad-base64":      Prefix + "%%." + sig64,
		"json-array":      Prefix + enc([]byte("[]")) + "." + sig,
		"version-2":       Prefix + enc([]byte(`{"v":2}`)) + "." + sig,
		"unknown-field":   Prefix + enc([]byte(`{"v":1,"z":0}`)) + "." + sig,
		"trailing-data":   Prefix + enc([]byte(`{"v":1}{}`)) + "." + sig,
		"http-url":        Prefix + enc([]byte(`{"v":1,"id":"a","vault_id":"b","signer":"c","vault_urls":["http://x"]}`)) + "." + sig,
		"zero-signature":  Prefix + payload64 + "." + sig,
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
