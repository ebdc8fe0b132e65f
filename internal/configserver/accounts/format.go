package accounts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// file is the account file (docs/formats/accounts.md).
type file struct {
	Version  int      `json:"version"`
	Accounts []record `json:"accounts"`
}

// record is one account with its sealed secret: nonce (12 bytes) || AES-256-GCM ciphertext and tag.
type record struct {
	Account
	Secret []byte `json:"secret"`
}

// keyFile is the key file.
type keyFile struct {
	Version int    `json:"version"`
	Key     []byte `json:"key"`
}

func strict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// decodeFile parses and checks an account file.
func decodeFile(b []byte) (*file, error) {
	var f file
	if err := strict(b, &f); err != nil {
		return nil, fmt.Errorf("not an account file: %w", err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("account file version %d, this osr reads version 1", f.Version)
	}
	seen := map[string]bool{}
	for i, r := range f.Accounts {
		if !nameRE.MatchString(r.Name) {
			return nil, fmt.Errorf("account %d: invalid name %q", i, r.Name)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("account %s appears twice", r.Name)
		}
		seen[r.Name] = true
		switch r.Type {
		case SSH, Windows, VCenter:
		default:
			return nil, fmt.Errorf("account %s: invalid type %q", r.Name, r.Type)
		}
		if r.SecretKind != Password && r.SecretKind != Key {
			return nil, fmt.Errorf("account %s: invalid secret kind %q", r.Name, r.SecretKind)
		}
		if len(r.Secret) < 12+16 {
			return nil, fmt.Errorf("account %s: sealed secret is %d bytes, too short", r.Name, len(r.Secret))
		}
	}
	return &f, nil
}

func encodeKey(key []byte) ([]byte, error) {
	b, err := json.Marshal(keyFile{Version: 1, Key: key})
	if err != nil {
		return nil, fmt.Errorf("encode account key: %w", err)
	}
	return append(b, '\n'), nil
}

// decodeKey parses a key file.
func decodeKey(b []byte) ([]byte, error) {
	var k keyFile
	if err := strict(b, &k); err != nil {
		return nil, fmt.Errorf("not an account key file: %w", err)
	}
	if k.Version != 1 {
		return nil, fmt.Errorf("account key file version %d, this osr reads version 1", k.Version)
	}
	if len(k.Key) != 32 {
		return nil, fmt.Errorf("account key is %d bytes, want 32", len(k.Key))
	}
	return k.Key, nil
}
