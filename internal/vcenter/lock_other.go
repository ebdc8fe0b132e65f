//go:build !unix

package vcenter

import (
	"context"
	"errors"
)

// The configuration server runs on Linux; the inventory is not kept elsewhere.
func lockFile(context.Context, string, bool, func() error) error {
	return errors.New("the inventory is kept by a configuration server, which runs on Linux")
}
