package regkey

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func testKey() *Key {
	return &Key{
		Version: 1, ID: "rk-0011223344556677", VaultID: "v-1b2c3d4e5f607182", VaultName: "lab",
		VaultURLs: []string{"https://vault.example.net:8443"},
		CASHA256:  strings.Repeat("ab", 32), Signer: "sk-1",
		Issued: t0, Expires: t0.Add(Validity),
	}
}

func testSigner(seed byte) (ed25519.PrivateKey, func(string) ed25519.PublicKey) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	priv[0] ^= 0 // keep deterministic
	if seed != 0 {
		s := make([]byte, 32)
		s[0] = seed
		priv = ed25519.NewKeyFromSeed(s)
	}
	pub := priv.Public().(ed25519.PublicKey)
	return priv, func(id string) ed25519.PublicKey {
		if id == "sk-1" {
			return pub
		}
		return nil
	}
}

func TestRoundTripAndVerify(t *testing.T) {
	priv, lookup := testSigner(0)
	text, err := Sign(testKey(), priv)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("\n " + text + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "rk-0011223344556677" || s.VaultURLs[0] != "https://vault.example.net:8443" || !s.Expires.Equal(t0.Add(Validity)) {
		t.Fatalf("parsed %+v", s.Key)
	}
	clk := clock.NewFake(t0)
	if err := s.Verify(lookup, clk.Now()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(Validity - time.Second)
	if err := s.Verify(lookup, clk.Now()); err != nil {
		t.Fatalf("one second before expiry: %v", err)
	}
	clk.Advance(time.Second)
	err = s.Verify(lookup, clk.Now())
	if !errors.Is(err, ErrExpired) || err.Error() != "registration key has expired (expired 2026-12-06T10:00:00Z)" {
		t.Fatalf("at expiry: %v", err)
	}
}

func TestTamperedAndForeign(t *testing.T) {
	priv, lookup := testSigner(0)
	text, err := Sign(testKey(), priv)
	if err != nil {
		t.Fatal(err)
	}
	payload64, sig64, _ := strings.Cut(strings.TrimPrefix(text, Prefix), ".")
	payload, _ := base64.RawURLEncoding.DecodeString(payload64)
	changed := strings.Replace(string(payload), "vault.example.net", "vault.example.org", 1)
	tampered := Prefix + base64.RawURLEncoding.EncodeToString([]byte(changed)) + "." + sig64
	other, _ := testSigner(7)
	foreign, _ := Sign(testKey(), other)
	k := testKey()
	k.Signer = "sk-2"
	unknown, _ := Sign(k, priv)
	for name, text := range map[string]string{"tampered": tampered, "foreign": foreign, "unknown signer": unknown} {
		s, err := Parse(text)
		if err != nil {
			t.Fatalf("%s: parse: %v", name, err)
		}
		if err := s.Verify(lookup, t0); err == nil || err.Error() != "registration key signature is invalid" || !errors.Is(err, ErrSignature) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	priv, _ := testSigner(0)
	good, _ := Sign(testKey(), priv)
	enc := base64.RawURLEncoding.EncodeToString
	sig := enc(make([]byte, 64))
	for _, tc := range []struct{ name, text, want string }{
		{"empty", "", `registration key is malformed: it does not start with "osr-regkey-1."`},
		{"other format", "hello", `registration key is malformed: it does not start with "osr-regkey-1."`},
		{"no signature", Prefix + "abc", "registration key is malformed: no signature part"},
		{"bad base64", Prefix + "a*c." + sig, "registration key is malformed: payload is not base64url"},
		{"short signature", good[:len(good)-4], "registration key is malformed: signature is not 64 bytes of base64url"},
		{"not json", Prefix + enc([]byte("[1]")) + "." + sig, "registration key is malformed: payload is not a key: json: cannot unmarshal array into Go value of type regkey.Key"},
		{"unknown field", Prefix + enc([]byte(`{"v":1,"x":2}`)) + "." + sig, `registration key is malformed: payload is not a key: json: unknown field "x"`},
		{"version 2", Prefix + enc([]byte(`{"v":2}`)) + "." + sig, "registration key is malformed: version 2 is not supported (this osr reads version 1)"},
		{"no id", Prefix + enc([]byte(`{"v":1}`)) + "." + sig, "registration key is malformed: id is empty or longer than 64 characters"},
		{"http url", Prefix + enc([]byte(`{"v":1,"id":"a","vault_id":"b","signer":"c","vault_urls":["http://x"]}`)) + "." + sig, `registration key is malformed: vault URL "http://x" is not an https URL`},
		{"bad fingerprint", Prefix + enc([]byte(`{"v":1,"id":"a","vault_id":"b","signer":"c","vault_urls":["https://x"],"ca_sha256":"AB"}`)) + "." + sig, "registration key is malformed: ca_sha256 is not 64 lowercase hex digits"},
		{"too long", Prefix + strings.Repeat("a", MaxSize), "registration key is malformed: longer than 8192 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.text)
			if err == nil || err.Error() != tc.want || !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}
