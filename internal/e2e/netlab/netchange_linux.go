//go:build linux

package netlab

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// stillLock is the lock file (in the temporary directory, across processes) between tests that
// change the addresses of this machine's own namespace (a lab's bridge, an SSH host's link) and
// tests that need them to stay as they are meanwhile: Chromium aborts a page load with
// net::ERR_NETWORK_CHANGED when an address comes or goes, and go test runs packages in parallel.
const stillLock = "osr-network-still.lock"

func lockStill(t testing.TB, how int) func() {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), stillLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		t.Fatal(err)
	}
	return func() { f.Close() }
}

// NetworkStill keeps the addresses of this machine's namespace as they are until t ends: labs of
// other tests wait to add or remove theirs. A test that holds it must not make a lab itself.
func NetworkStill(t testing.TB) {
	t.Helper()
	t.Cleanup(lockStill(t, unix.LOCK_SH))
}

// Changing waits until no test holds NetworkStill and keeps them waiting until done is called:
// around adding or removing an address or link of this machine's namespace.
func Changing(t testing.TB) (done func()) {
	t.Helper()
	return lockStill(t, unix.LOCK_EX)
}
