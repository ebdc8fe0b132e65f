package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/zeebo/blake3"
)

// IDSize is the length of content and object IDs.
const IDSize = 32

// ID names a blob by the keyed hash of its plaintext, or an object by a random value.
type ID [IDSize]byte

// String returns the ID in lowercase hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits, for messages.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// IsZero reports whether the ID is all zero (no ID).
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses a 64-digit hex ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDSize {
		return id, fmt.Errorf("invalid id %q: want %d hex digits", s, 2*IDSize)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("invalid id %q: %w", s, err)
	}
	return id, nil
}

// RandomID returns a random ID.
func RandomID() ID {
	var id ID
	if _, err := rand.Read(id[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return id
}

// MasterKey is a store's secret: one key encrypts, the other keys the content hash.
// It never changes during the life of a store; passwords only wrap it.
type MasterKey struct {
	Encrypt [32]byte `json:"encrypt"`
	Hash    [32]byte `json:"hash"`
}

// NewMasterKey returns a fresh random master key.
func NewMasterKey() *MasterKey {
	var k MasterKey
	if _, err := rand.Read(k.Encrypt[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	if _, err := rand.Read(k.Hash[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return &k
}

// Keys holds the ready-to-use primitives derived from a MasterKey. It is safe for concurrent use.
type Keys struct {
	aead cipher.AEAD
	hash *blake3.Hasher // template; cloned per call
}

// NewKeys prepares the primitives of k.
func NewKeys(k *MasterKey) (*Keys, error) {
	block, err := aes.NewCipher(k.Encrypt[:])
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	h, err := blake3.NewKeyed(k.Hash[:])
	if err != nil {
		return nil, fmt.Errorf("blake3: %w", err)
	}
	return &Keys{aead: aead, hash: h}, nil
}

// Hash returns the keyed hash (BLAKE3 in keyed mode) of data: the ID of a blob. Without the key, an
// ID reveals nothing about the content.
func (k *Keys) Hash(data []byte) ID {
	h := k.hash.Clone()
	_, _ = h.Write(data)
	var id ID
	h.Sum(id[:0])
	return id
}

// Overhead is the number of bytes Seal adds: a 12-byte nonce and a 16-byte tag.
const Overhead = 12 + 16

// ErrAuth is wrapped by errors about ciphertext that fails authentication: wrong key, damage or
// tampering.
var ErrAuth = errors.New("ciphertext authentication failed")

// Seal appends nonce || AES-256-GCM(plaintext, ad) to dst.
func (k *Keys) Seal(dst, plaintext, ad []byte) []byte {
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	dst = append(dst, nonce[:]...)
	return k.aead.Seal(dst, nonce[:], plaintext, ad)
}

// Open authenticates and decrypts a ciphertext made by Seal with the same ad, appending the
// plaintext to dst.
func (k *Keys) Open(dst, ciphertext, ad []byte) ([]byte, error) {
	if len(ciphertext) < Overhead {
		return nil, fmt.Errorf("ciphertext of %d bytes is too short: %w", len(ciphertext), ErrAuth)
	}
	out, err := k.aead.Open(dst, ciphertext[:12], ciphertext[12:], ad)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}
