package pushinstall

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// KnownHosts is an OpenSSH known_hosts file: a host's key is recorded on first contact (trust on
// first use, logged) and a different key later is refused.
type KnownHosts struct {
	path string
	mu   sync.Mutex
}

// NewKnownHosts uses the file at path (created on first contact).
func NewKnownHosts(path string) *KnownHosts { return &KnownHosts{path: path} }

// Callback checks host keys against the file.
func (k *KnownHosts) Callback() ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		k.mu.Lock()
		defer k.mu.Unlock()
		f, err := os.OpenFile(k.path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("known hosts: %w", err)
		}
		f.Close()
		cb, err := knownhosts.New(k.path)
		if err != nil {
			return fmt.Errorf("known hosts %s: %w", k.path, err)
		}
		err = cb(hostname, remote, key)
		var ke *knownhosts.KeyError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ke) && len(ke.Want) == 0:
			f, err := os.OpenFile(k.path, os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return fmt.Errorf("known hosts: %w", err)
			}
			defer f.Close()
			if _, err := fmt.Fprintln(f, knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key)); err != nil {
				return fmt.Errorf("known hosts: %w", err)
			}
			return f.Sync()
		case errors.As(err, &ke):
			return fmt.Errorf("the host key of %s changed (now %s); if the machine was reinstalled, remove its line from %s", knownhosts.Normalize(hostname), ssh.FingerprintSHA256(key), k.path)
		}
		return err
	}
}
