package accounts

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// The lock modes of locked: LockFileEx flags.
const (
	lockShared    = 0
	lockExclusive = windows.LOCKFILE_EXCLUSIVE_LOCK
)

// locked runs fn holding a LockFileEx lock on the whole lock file (shared or exclusive, waiting
// for it); closing the file releases it.
func (s *Store) locked(ctx context.Context, how int, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	lf, err := os.OpenFile(s.lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("lock accounts: %w", err)
	}
	defer lf.Close()
	var ol windows.Overlapped
	if err := windows.LockFileEx(windows.Handle(lf.Fd()), uint32(how), 0, ^uint32(0), ^uint32(0), &ol); err != nil {
		return fmt.Errorf("lock accounts: %w", err)
	}
	return fn()
}
