package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/argon2"
)

// KDFParams are the Argon2id parameters of a key file.
type KDFParams struct {
	Time    uint32 `json:"time"`
	Memory  uint32 `json:"memory_kib"`
	Threads uint8  `json:"threads"`
}

// DefaultKDF is one of OWASP's equivalent minimum settings for Argon2id (19 MiB, 2 passes, one
// lane). Measured here, one lane is also faster than two with this implementation: about 50 ms
// against 200 ms for 46 MiB in one pass on two lanes.
var DefaultKDF = KDFParams{Time: 2, Memory: 19 * 1024, Threads: 1}

// KeyFile wraps a master key with a key derived from a password. A store may have several; changing
// the password writes a new key file and removes the old one, without touching any data.
type KeyFile struct {
	Version  int       `json:"version"`
	Created  time.Time `json:"created"`
	Hostname string    `json:"hostname,omitempty"`
	KDF      string    `json:"kdf"`
	Params   KDFParams `json:"params"`
	Salt     []byte    `json:"salt"`
	Data     []byte    `json:"data"` // nonce || AES-256-GCM(JSON MasterKey)
}

// ErrWrongPassword is returned when a password opens no key file.
var ErrWrongPassword = errors.New("wrong password: it opens no key of this store")

const keyFileAD = "osr key file v1"

// maxKDFMemory bounds what a key file may ask for, so that a hostile file cannot exhaust memory.
const maxKDFMemory = 4 * 1024 * 1024 // KiB: 4 GiB

func deriveKEK(password []byte, salt []byte, p KDFParams) (cipher.AEAD, error) {
	if p.Time == 0 || p.Time > 100 || p.Memory < 8 || p.Memory > maxKDFMemory || p.Threads == 0 {
		return nil, fmt.Errorf("key file has unusable kdf parameters %+v", p)
	}
	kek := argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, 32)
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// WrapKey returns a key file that opens mk with password.
func WrapKey(mk *MasterKey, password []byte, p KDFParams, now time.Time, hostname string) (*KeyFile, error) {
	if len(password) == 0 {
		return nil, errors.New("empty password")
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	aead, err := deriveKEK(password, salt, p)
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(mk)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 12)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	data := aead.Seal(nonce, nonce, plain, []byte(keyFileAD))
	return &KeyFile{Version: 1, Created: now.UTC(), Hostname: hostname, KDF: "argon2id", Params: p, Salt: salt, Data: data}, nil
}

// DecodeKeyFile parses a key file and checks its fields.
func DecodeKeyFile(b []byte) (*KeyFile, error) {
	var kf KeyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, fmt.Errorf("key file is not valid JSON: %w", err)
	}
	if kf.Version != 1 {
		return nil, fmt.Errorf("key file version %d is not supported (this osr reads version 1)", kf.Version)
	}
	if kf.KDF != "argon2id" {
		return nil, fmt.Errorf("key file kdf %q is not supported", kf.KDF)
	}
	if len(kf.Salt) < 16 || len(kf.Data) < 12+16 {
		return nil, errors.New("key file is truncated: salt or data too short")
	}
	return &kf, nil
}

// Unwrap opens the key file with password.
func (kf *KeyFile) Unwrap(password []byte) (*MasterKey, error) {
	aead, err := deriveKEK(password, kf.Salt, kf.Params)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, kf.Data[:12], kf.Data[12:], []byte(keyFileAD))
	if err != nil {
		return nil, ErrWrongPassword
	}
	var mk MasterKey
	if err := json.Unmarshal(plain, &mk); err != nil {
		return nil, fmt.Errorf("key file payload: %w", err)
	}
	return &mk, nil
}
