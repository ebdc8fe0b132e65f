//go:build unix

package vcenter

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func lockFile(ctx context.Context, path string, exclusive bool, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	lf, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("lock inventory: %w", err)
	}
	defer lf.Close()
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := unix.Flock(int(lf.Fd()), how); err != nil {
		return fmt.Errorf("lock inventory: %w", err)
	}
	return fn()
}
