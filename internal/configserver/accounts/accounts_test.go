package accounts

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/opensiterecovery/osr/internal/clock"
)

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := New(Options{Dir: dir, Clock: clock.NewFake(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func sshKey(t *testing.T) []byte {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(blk)
}

func TestAddListRemove(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)
	password := []byte("Correct-Horse-Battery-7731")
	key := sshKey(t)
	if err := s.Add(ctx, Account{Name: "domain-admin", Type: Windows, User: `CORP\osr`, SecretKind: Password}, password); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, Account{Name: "linux-root", Type: SSH, User: "root", SecretKind: Key}, key); err != nil {
		t.Fatal(err)
	}
	err := s.Add(ctx, Account{Name: "linux-root", Type: SSH, User: "other", SecretKind: Password}, []byte("x"))
	if err == nil || err.Error() != "account linux-root: account already exists" || !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate add: %v", err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	want := []Account{
		{Name: "domain-admin", Type: Windows, User: `CORP\osr`, SecretKind: Password, Created: created},
		{Name: "linux-root", Type: SSH, User: "root", SecretKind: Key, Created: created},
	}
	if len(list) != 2 || list[0] != want[0] || list[1] != want[1] {
		t.Fatalf("List = %+v, want %+v", list, want)
	}
	for _, f := range []string{"accounts.json", "accounts.key"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %04o, want 0600", f, st.Mode().Perm())
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "accounts.json"))
	keyBody := key[40 : len(key)-40]
	for name, secret := range map[string][]byte{"password": password, "key": keyBody} {
		if bytes.Contains(raw, secret) {
			t.Errorf("the account file holds the %s in clear", name)
		}
	}
	a, got, err := s.Secret(ctx, "domain-admin")
	if err != nil || !bytes.Equal(got, password) || a.User != `CORP\osr` {
		t.Fatalf("Secret = %+v %q %v", a, got, err)
	}
	if _, got, _ := s.Secret(ctx, "linux-root"); !bytes.Equal(got, key) {
		t.Fatal("key secret does not round trip")
	}
	if err := s.Remove(ctx, "domain-admin"); err != nil {
		t.Fatal(err)
	}
	err = s.Remove(ctx, "domain-admin")
	if err == nil || err.Error() != "account domain-admin: no such account" {
		t.Fatalf("second remove: %v", err)
	}
	if list, _ := s.List(ctx); len(list) != 1 || list[0].Name != "linux-root" {
		t.Fatalf("after remove: %+v", list)
	}
	if _, _, err := s.Secret(ctx, "domain-admin"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Secret of a removed account: %v", err)
	}
}

func TestTamperedRecordFails(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)
	for _, n := range []string{"a", "b"} {
		if err := s.Add(ctx, Account{Name: n, Type: SSH, User: "u" + n, SecretKind: Password}, []byte("secret-"+n)); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "accounts.json")
	raw, _ := os.ReadFile(path)
	var f file
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	f.Accounts[0].Secret, f.Accounts[1].Secret = f.Accounts[1].Secret, f.Accounts[0].Secret
	b, _ := json.Marshal(f)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Secret(ctx, "a")
	if err == nil || err.Error() != "account a: secret fails authentication (wrong key file or damaged record)" {
		t.Fatalf("swapped secret: %v", err)
	}
	// A different key file opens nothing.
	os.Remove(filepath.Join(dir, "accounts.key"))
	s2, _ := New(Options{Dir: t.TempDir()})
	_ = s2.Add(ctx, Account{Name: "x", Type: SSH, User: "x", SecretKind: Password}, []byte("y"))
	if err := os.Rename(filepath.Join(s2.keyPath), filepath.Join(dir, "accounts.key")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Secret(ctx, "b"); err == nil {
		t.Fatal("a secret opened under another key")
	}
}

func TestValidate(t *testing.T) {
	key := sshKey(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	blk, _ := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("pw"))
	protected := pem.EncodeToMemory(blk)
	for _, tc := range []struct {
		a      Account
		secret string
		err    string
	}{
		{Account{Name: "ok", Type: SSH, User: "root", SecretKind: Key}, string(key), ""},
		{Account{Name: "-x", Type: SSH, User: "root", SecretKind: Password}, "p", `invalid account name "-x": use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`},
		{Account{Name: "x", Type: "rdp", User: "root", SecretKind: Password}, "p", `invalid account type "rdp": want ssh, windows or vcenter`},
		{Account{Name: "x", Type: SSH, User: "", SecretKind: Password}, "p", `invalid user "": want 1 to 256 characters, no control characters`},
		{Account{Name: "x", Type: SSH, User: "a\nb", SecretKind: Password}, "p", `invalid user "a\nb": want 1 to 256 characters, no control characters`},
		{Account{Name: "x", Type: SSH, User: "root", SecretKind: Password}, "", "account x: empty password"},
		{Account{Name: "x", Type: VCenter, User: "ro", SecretKind: Key}, string(key), "account x: a key file is for ssh accounts; vcenter accounts take a password"},
		{Account{Name: "x", Type: SSH, User: "root", SecretKind: Key}, "not a key", "account x: not a private key: ssh: no key found"},
		{Account{Name: "x", Type: SSH, User: "root", SecretKind: Key}, string(protected), "account x: the private key is protected by a passphrase; store an unprotected copy (it is encrypted here)"},
	} {
		err := Validate(tc.a, []byte(tc.secret))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.err {
			t.Errorf("Validate(%+v): %q, want %q", tc.a, got, tc.err)
		}
	}
}

func TestBadFilesChangeNothing(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)
	path := filepath.Join(dir, "accounts.json")
	if err := os.WriteFile(path, []byte(`{"version":2,"accounts":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := s.Add(ctx, Account{Name: "x", Type: SSH, User: "root", SecretKind: Password}, []byte("p"))
	want := "read accounts: " + path + ": account file version 2, this osr reads version 1"
	if err == nil || err.Error() != want {
		t.Fatalf("Add over a bad file: %v, want %q", err, want)
	}
	if b, _ := os.ReadFile(path); string(b) != `{"version":2,"accounts":[]}` {
		t.Fatalf("the bad file was changed: %s", b)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = s.List(ctx)
	want = "read accounts: " + path + " is accessible by others (mode 0644); run chmod 600 " + path
	if err == nil || err.Error() != want {
		t.Fatalf("List of a 0644 file: %v, want %q", err, want)
	}
}
