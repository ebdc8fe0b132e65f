package passphrase

import (
	"fmt"
	"os"

	"github.com/opensiterecovery/osr/internal/configserver/privfile"
)

// maxFileSize bounds what ReadFile reads: a passphrase file holds one short line.
const maxFileSize = 4096

// ReadFile reads a passphrase file (one line; surrounding white space ignored). With private set
// the file must be readable by its owner alone (mode 0600 or stricter), as the configuration
// server's own file is; a client's copy (--passphrase-file) is read with private false.
func ReadFile(path string, private bool) (Passphrase, error) {
	f, err := os.Open(path)
	if err != nil {
		return Passphrase{}, fmt.Errorf("read passphrase file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Passphrase{}, fmt.Errorf("read passphrase file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Passphrase{}, fmt.Errorf("passphrase file %s is not a regular file", path)
	}
	if private && st.Mode().Perm()&0o077 != 0 {
		return Passphrase{}, fmt.Errorf("passphrase file %s is accessible by others (mode %04o); run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	if st.Size() > maxFileSize {
		return Passphrase{}, fmt.Errorf("passphrase file %s: %w: %d bytes", path, ErrInvalid, st.Size())
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && st.Size() > 0 {
		return Passphrase{}, fmt.Errorf("read passphrase file: %w", err)
	}
	p, err := Parse(string(b))
	if err != nil {
		return Passphrase{}, fmt.Errorf("passphrase file %s: %w", path, err)
	}
	return p, nil
}

// WriteFile stores p at path with mode 0600, atomically: a reader sees the old passphrase or the
// new one, never a mix, and a crash leaves one of them.
func WriteFile(path string, p Passphrase) error {
	if p.IsZero() {
		return fmt.Errorf("write passphrase file: %w: empty", ErrInvalid)
	}
	return privfile.Write(path, []byte(p.String()+"\n"))
}
