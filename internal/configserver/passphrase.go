package configserver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opensiterecovery/osr/internal/passphrase"
)

// ReadPassphrase returns the configuration server's current passphrase.
func ReadPassphrase(dataDir string) (passphrase.Passphrase, error) {
	if _, err := LoadRegistration(dataDir); errors.Is(err, os.ErrNotExist) {
		return passphrase.Passphrase{}, fmt.Errorf("no configuration server is installed in %s: run osr config-server install", dataDir)
	}
	return passphrase.ReadFile(filepath.Join(dataDir, PassphraseFile), true)
}

// RegeneratePassphrase replaces the passphrase. From then on only the new one admits process
// servers and agents (a running server reads it at every attempt); those already enrolled keep
// their certificates.
func RegeneratePassphrase(dataDir string) (passphrase.Passphrase, error) {
	if _, err := LoadRegistration(dataDir); errors.Is(err, os.ErrNotExist) {
		return passphrase.Passphrase{}, fmt.Errorf("no configuration server is installed in %s: run osr config-server install", dataDir)
	}
	p := passphrase.Generate()
	if err := passphrase.WriteFile(filepath.Join(dataDir, PassphraseFile), p); err != nil {
		return passphrase.Passphrase{}, err
	}
	return p, nil
}
