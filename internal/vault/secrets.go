package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// secretBox seals the vault's secrets at rest (root CA key, signing keys, store passwords) with
// AES-256-GCM under a master key kept in a root-only file beside the database.
type secretBox struct{ aead cipher.AEAD }

// loadMasterKey reads the 32-byte master key file, creating it (0600) when it does not exist.
func loadMasterKey(path string) (*secretBox, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, 32)
		rand.Read(key)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create master key file: %w", err)
		}
		if _, err := f.Write(key); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("read master key file: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("master key file %s holds %d bytes, want 32", path, len(key))
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	return &secretBox{aead: aead}, nil
}

// seal encrypts plain for the named purpose (bound as associated data) and returns base64.
func (b *secretBox) seal(purpose string, plain []byte) string {
	nonce := make([]byte, b.aead.NonceSize())
	rand.Read(nonce)
	return base64.StdEncoding.EncodeToString(b.aead.Seal(nonce, nonce, plain, []byte(purpose)))
}

func (b *secretBox) open(purpose, sealed string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return nil, fmt.Errorf("secret %s is damaged", purpose)
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(purpose))
	if err != nil {
		return nil, fmt.Errorf("secret %s does not decrypt with this master key", purpose)
	}
	return plain, nil
}
