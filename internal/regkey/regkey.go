package regkey

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Prefix starts every registration key; the number is the format version.
const Prefix = "osr-regkey-1."

// Validity is how long a new registration key is valid.
const Validity = 5 * 24 * time.Hour

// MaxSize bounds the text of a key; longer input is refused before decoding.
const MaxSize = 8 << 10

// signingContext is prepended to the payload before signing, so that a signature over a key can
// never be taken for a signature over anything else.
const signingContext = "osr registration key v1\x00"

// Errors wrapped by Parse and Verify; the messages are part of the API (exact).
var (
	ErrMalformed = errors.New("registration key is malformed")
	ErrSignature = errors.New("registration key signature is invalid")
	ErrExpired   = errors.New("registration key has expired")
)

// Key is the content of a registration key.
type Key struct {
	Version   int       `json:"v"`
	ID        string    `json:"id"`         // unique per key; the vault records its use
	VaultID   string    `json:"vault_id"`   // the vault the configuration server joins
	VaultName string    `json:"vault_name"` // for display
	VaultURLs []string  `json:"vault_urls"` // https URLs of the vault service
	CASHA256  string    `json:"ca_sha256"`  // lowercase hex SHA-256 of the root CA certificate (DER)
	Signer    string    `json:"signer"`     // ID of the vault signing key
	Issued    time.Time `json:"issued"`
	Expires   time.Time `json:"expires"`
}

// validate checks the fields of a key, not its signature or expiry.
func (k *Key) validate() error {
	if k.Version != 1 {
		return fmt.Errorf("version %d is not supported (this osr reads version 1)", k.Version)
	}
	for _, f := range []struct{ name, v string }{{"id", k.ID}, {"vault_id", k.VaultID}, {"signer", k.Signer}} {
		if f.v == "" || len(f.v) > 64 {
			return fmt.Errorf("%s is empty or longer than 64 characters", f.name)
		}
	}
	if len(k.VaultURLs) == 0 || len(k.VaultURLs) > 16 {
		return errors.New("vault_urls must hold 1 to 16 URLs")
	}
	for _, s := range k.VaultURLs {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("vault URL %q is not an https URL", s)
		}
	}
	if b, err := hex.DecodeString(k.CASHA256); err != nil || len(b) != 32 || strings.ToLower(k.CASHA256) != k.CASHA256 {
		return errors.New("ca_sha256 is not 64 lowercase hex digits")
	}
	if k.Issued.IsZero() || k.Expires.IsZero() || !k.Expires.After(k.Issued) {
		return errors.New("expiry is missing or not after the issue time")
	}
	return nil
}

// Sign encodes k signed by priv. The key must be complete (see docs/formats/registration-key.md).
func Sign(k *Key, priv ed25519.PrivateKey) (string, error) {
	if err := k.validate(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	payload, err := json.Marshal(k)
	if err != nil {
		return "", err
	}
	sig := ed25519.Sign(priv, append([]byte(signingContext), payload...))
	enc := base64.RawURLEncoding
	return Prefix + enc.EncodeToString(payload) + "." + enc.EncodeToString(sig), nil
}

// Signed is a parsed key with the bytes its signature covers.
type Signed struct {
	Key
	payload []byte
	sig     []byte
}

// Parse decodes a key's text (surrounding white space is ignored) without checking its signature or
// expiry. Errors wrap ErrMalformed.
func Parse(text string) (*Signed, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	if len(text) > MaxSize {
		return nil, bad("longer than %d bytes", MaxSize)
	}
	text = strings.TrimSpace(text)
	rest, ok := strings.CutPrefix(text, Prefix)
	if !ok {
		return nil, bad("it does not start with %q", Prefix)
	}
	p64, s64, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, bad("no signature part")
	}
	enc := base64.RawURLEncoding.Strict()
	payload, err := enc.DecodeString(p64)
	if err != nil {
		return nil, bad("payload is not base64url")
	}
	sig, err := enc.DecodeString(s64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, bad("signature is not %d bytes of base64url", ed25519.SignatureSize)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var s Signed
	if err := dec.Decode(&s.Key); err != nil {
		return nil, bad("payload is not a key: %v", err)
	}
	if dec.More() {
		return nil, bad("payload has data after the key")
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	s.payload, s.sig = payload, sig
	return &s, nil
}

// Verify checks the signature with the public key that lookup returns for the key's signer (nil:
// unknown signer, which fails like a bad signature) and that the key has not expired at now.
func (s *Signed) Verify(lookup func(signer string) ed25519.PublicKey, now time.Time) error {
	pub := lookup(s.Signer)
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, append([]byte(signingContext), s.payload...), s.sig) {
		return ErrSignature
	}
	if !now.Before(s.Expires) {
		return fmt.Errorf("%w (expired %s)", ErrExpired, s.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}
