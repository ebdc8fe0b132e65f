//go:build unix

package accounts

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The lock modes of locked.
const (
	lockShared    = unix.LOCK_SH
	lockExclusive = unix.LOCK_EX
)

func (s *Store) locked(ctx context.Context, how int, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	lf, err := os.OpenFile(s.lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("lock accounts: %w", err)
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), how); err != nil {
		return fmt.Errorf("lock accounts: %w", err)
	}
	return fn()
}
