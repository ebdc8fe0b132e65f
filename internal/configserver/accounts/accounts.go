package accounts

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/crypto/ssh"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver/privfile"
)

// Type is the kind of machine or service an account opens.
type Type string

// The account types.
const (
	SSH     Type = "ssh"     // Linux machines, over SSH
	Windows Type = "windows" // Windows machines
	VCenter Type = "vcenter" // vCenter or ESXi discovery
)

// SecretKind says what the secret is.
type SecretKind string

// The secret kinds.
const (
	Password SecretKind = "password"
	Key      SecretKind = "ssh-key" // an unencrypted OpenSSH or PEM private key
)

// Account is one stored account without its secret.
type Account struct {
	Name       string     `json:"name"`
	Type       Type       `json:"type"`
	User       string     `json:"user"`
	SecretKind SecretKind `json:"secret_kind"`
	Created    time.Time  `json:"created"`
}

// Errors callers can test for.
var (
	ErrExists   = errors.New("account already exists")
	ErrNotFound = errors.New("no such account")
)

const (
	maxSecret = 64 << 10
	maxFile   = 64 << 20
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Options locate the files of a Store.
type Options struct {
	Dir     string      // holds accounts.json (and accounts.key unless KeyPath is set)
	KeyPath string      // the key file; default Dir/accounts.key
	Clock   clock.Clock // for Created; default clock.Real
}

// Store reads and changes the account file. Each call locks the file (flock), so the CLI and a
// running configuration server may use the same files at once; a change is durable (fsync, rename)
// when the call returns.
type Store struct {
	path, keyPath, lockPath string
	clock                   clock.Clock
}

// New returns the store of opts.Dir. Nothing is created until the first Add.
func New(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("accounts: no directory")
	}
	s := &Store{
		path:     filepath.Join(opts.Dir, "accounts.json"),
		keyPath:  opts.KeyPath,
		lockPath: filepath.Join(opts.Dir, "accounts.lock"),
		clock:    opts.Clock,
	}
	if s.keyPath == "" {
		s.keyPath = filepath.Join(opts.Dir, "accounts.key")
	}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	return s, nil
}

// Validate checks an account and its secret before it is stored.
func Validate(a Account, secret []byte) error {
	if !nameRE.MatchString(a.Name) {
		return fmt.Errorf("invalid account name %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", a.Name)
	}
	switch a.Type {
	case SSH, Windows, VCenter:
	default:
		return fmt.Errorf("invalid account type %q: want ssh, windows or vcenter", a.Type)
	}
	if a.User == "" || len(a.User) > 256 || strings.IndexFunc(a.User, unicode.IsControl) >= 0 {
		return fmt.Errorf("invalid user %q: want 1 to 256 characters, no control characters", a.User)
	}
	if len(secret) == 0 {
		return fmt.Errorf("account %s: empty %s", a.Name, a.SecretKind)
	}
	if len(secret) > maxSecret {
		return fmt.Errorf("account %s: %s is %d bytes, more than %d", a.Name, a.SecretKind, len(secret), maxSecret)
	}
	switch a.SecretKind {
	case Password:
	case Key:
		if a.Type != SSH {
			return fmt.Errorf("account %s: a key file is for ssh accounts; %s accounts take a password", a.Name, a.Type)
		}
		if _, err := ssh.ParseRawPrivateKey(secret); err != nil {
			var missing *ssh.PassphraseMissingError
			if errors.As(err, &missing) {
				return fmt.Errorf("account %s: the private key is protected by a passphrase; store an unprotected copy (it is encrypted here)", a.Name)
			}
			return fmt.Errorf("account %s: not a private key: %w", a.Name, err)
		}
	default:
		return fmt.Errorf("invalid secret kind %q", a.SecretKind)
	}
	return nil
}

// Add stores a new account with its secret, encrypted. It creates the key file on first use.
func (s *Store) Add(ctx context.Context, a Account, secret []byte) error {
	if err := Validate(a, secret); err != nil {
		return err
	}
	return s.update(ctx, true, func(f *file, aead cipher.AEAD) error {
		for _, r := range f.Accounts {
			if r.Name == a.Name {
				return fmt.Errorf("account %s: %w", a.Name, ErrExists)
			}
		}
		a.Created = s.clock.Now().UTC().Truncate(time.Second)
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return fmt.Errorf("random nonce: %w", err)
		}
		sealed := aead.Seal(nonce, nonce, secret, associated(a))
		f.Accounts = append(f.Accounts, record{Account: a, Secret: sealed})
		slices.SortFunc(f.Accounts, func(x, y record) int { return strings.Compare(x.Name, y.Name) })
		return nil
	})
}

// Remove deletes an account and its secret.
func (s *Store) Remove(ctx context.Context, name string) error {
	return s.update(ctx, false, func(f *file, _ cipher.AEAD) error {
		i := slices.IndexFunc(f.Accounts, func(r record) bool { return r.Name == name })
		if i < 0 {
			return fmt.Errorf("account %s: %w", name, ErrNotFound)
		}
		f.Accounts = slices.Delete(f.Accounts, i, i+1)
		return nil
	})
}

// List returns the accounts, sorted by name, without secrets.
func (s *Store) List(ctx context.Context) ([]Account, error) {
	var out []Account
	err := s.locked(ctx, lockShared, func() error {
		f, err := s.load()
		if err != nil {
			return err
		}
		for _, r := range f.Accounts {
			out = append(out, r.Account)
		}
		return nil
	})
	return out, err
}

// Secret decrypts the secret of an account, for the component that logs in with it. The caller must
// not log or keep it.
func (s *Store) Secret(ctx context.Context, name string) (Account, []byte, error) {
	var a Account
	var secret []byte
	err := s.locked(ctx, lockShared, func() error {
		f, err := s.load()
		if err != nil {
			return err
		}
		i := slices.IndexFunc(f.Accounts, func(r record) bool { return r.Name == name })
		if i < 0 {
			return fmt.Errorf("account %s: %w", name, ErrNotFound)
		}
		aead, err := s.cipher(false)
		if err != nil {
			return err
		}
		r := f.Accounts[i]
		ns := aead.NonceSize()
		if len(r.Secret) < ns+aead.Overhead() {
			return fmt.Errorf("account %s: sealed secret is %d bytes, too short", name, len(r.Secret))
		}
		pt, err := aead.Open(nil, r.Secret[:ns], r.Secret[ns:], associated(r.Account))
		if err != nil {
			return fmt.Errorf("account %s: secret fails authentication (wrong key file or damaged record)", name)
		}
		a, secret = r.Account, pt
		return nil
	})
	return a, secret, err
}

// associated is the GCM associated data of an account's secret.
func associated(a Account) []byte {
	var b bytes.Buffer
	b.WriteString("osr account v1")
	for _, f := range []string{a.Name, string(a.Type), a.User, string(a.SecretKind)} {
		b.WriteByte(0)
		b.WriteString(f)
	}
	return b.Bytes()
}

// update runs fn on the account file under an exclusive lock and writes the result.
func (s *Store) update(ctx context.Context, needKey bool, fn func(*file, cipher.AEAD) error) error {
	return s.locked(ctx, lockExclusive, func() error {
		f, err := s.load()
		if err != nil {
			return err
		}
		var aead cipher.AEAD
		if needKey {
			if aead, err = s.cipher(true); err != nil {
				return err
			}
		}
		if err := fn(f, aead); err != nil {
			return err
		}
		b, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			return fmt.Errorf("encode accounts: %w", err)
		}
		return privfile.Write(s.path, append(b, '\n'))
	})
}

// load reads the account file; a missing file is an empty store.
func (s *Store) load() (*file, error) {
	b, err := privfile.Read(s.path, maxFile)
	if errors.Is(err, os.ErrNotExist) {
		return &file{Version: 1}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read accounts: %w", err)
	}
	f, err := decodeFile(b)
	if err != nil {
		return nil, fmt.Errorf("read accounts: %s: %w", s.path, err)
	}
	return f, nil
}

// cipher loads the key file, creating it when create is set and it does not exist.
func (s *Store) cipher(create bool) (cipher.AEAD, error) {
	b, err := privfile.Read(s.keyPath, 4096)
	var key []byte
	switch {
	case errors.Is(err, os.ErrNotExist) && create:
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("random key: %w", err)
		}
		enc, err := encodeKey(key)
		if err != nil {
			return nil, err
		}
		if err := privfile.Write(s.keyPath, enc); err != nil {
			return nil, fmt.Errorf("create account key: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("read account key: %w", err)
	default:
		if key, err = decodeKey(b); err != nil {
			return nil, fmt.Errorf("read account key: %s: %w", s.keyPath, err)
		}
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	return cipher.NewGCM(block)
}
