package passphrase

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Alphabet is the set of characters of a passphrase: no 0/O, 1/I/L or U, so that a passphrase read
// aloud or copied by hand survives.
const Alphabet = "ABCDEFGHJKMNPQRSTVWXYZ23456789ab"

const (
	groups    = 4
	groupLen  = 6
	nChars    = groups * groupLen
	encodedSz = nChars + groups - 1
)

// Passphrase is a parsed passphrase. Its String form is the canonical text.
type Passphrase struct{ text string }

// Generate returns a fresh random passphrase.
func Generate() Passphrase {
	var raw [nChars]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	var b strings.Builder
	for i, r := range raw {
		if i > 0 && i%groupLen == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(Alphabet[int(r)%len(Alphabet)]) // 256 is a multiple of 32: no bias
	}
	return Passphrase{text: b.String()}
}

// ErrInvalid is wrapped by errors about text that is not a passphrase.
var ErrInvalid = errors.New("invalid passphrase")

// Parse checks text (surrounding white space, as left by an editor or echo, is ignored) and returns
// the passphrase.
func Parse(text string) (Passphrase, error) {
	s := strings.TrimSpace(text)
	if s == "" {
		return Passphrase{}, fmt.Errorf("%w: empty", ErrInvalid)
	}
	if len(s) != encodedSz {
		return Passphrase{}, fmt.Errorf("%w: %d characters, want %d (four groups of six joined by '-')", ErrInvalid, len(s), encodedSz)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (i+1)%(groupLen+1) == 0 {
			if c != '-' {
				return Passphrase{}, fmt.Errorf("%w: character %d is %q, want '-'", ErrInvalid, i+1, c)
			}
			continue
		}
		if strings.IndexByte(Alphabet, c) < 0 {
			return Passphrase{}, fmt.Errorf("%w: character %d (%q) is not in the passphrase alphabet", ErrInvalid, i+1, c)
		}
	}
	return Passphrase{text: s}, nil
}

// String returns the passphrase text. Call it only to show the passphrase to its owner once, or to
// write it to its file.
func (p Passphrase) String() string { return p.text }

// IsZero reports whether p is the zero value (no passphrase).
func (p Passphrase) IsZero() bool { return p.text == "" }

// key derives the HMAC key of the proofs; the passphrase text itself is never used as a key.
func (p Passphrase) key() []byte {
	k, err := hkdf.Key(sha256.New, []byte(p.text), []byte("osr passphrase v1"), "enrollment proof", 32)
	if err != nil {
		panic("hkdf: " + err.Error()) // only for lengths out of range
	}
	return k
}

// NonceSize is the length of client and server nonces.
const NonceSize = 32

// Nonce returns a fresh random nonce.
func Nonce() []byte {
	n := make([]byte, NonceSize)
	if _, err := rand.Read(n); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return n
}

// mac computes HMAC-SHA256 under p's key over a label and length-prefixed fields, so that no two
// different field lists give the same input.
func (p Passphrase) mac(label string, fields ...[]byte) []byte {
	h := hmac.New(sha256.New, p.key())
	write := func(b []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	write([]byte(label))
	for _, f := range fields {
		write(f)
	}
	return h.Sum(nil)
}

// ServerProof is the server's answer to a challenge: it shows that the server presenting the TLS
// certificate whose SHA-256 is certHash knows p.
func (p Passphrase) ServerProof(clientNonce, serverNonce, certHash []byte) []byte {
	return p.mac("osr enroll server v1", clientNonce, serverNonce, certHash)
}

// ClientProof binds the client's request (role, name, CSR) to the challenge and to p.
func (p Passphrase) ClientProof(clientNonce, serverNonce, certHash []byte, role, name string, csrDER []byte) []byte {
	csrHash := sha256.Sum256(csrDER)
	return p.mac("osr enroll client v1", clientNonce, serverNonce, certHash, []byte(role), []byte(name), csrHash[:])
}

// Equal compares two proofs in constant time.
func Equal(a, b []byte) bool { return hmac.Equal(a, b) }
