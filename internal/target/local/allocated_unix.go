//go:build unix

package local

import (
	"errors"

	"golang.org/x/sys/unix"
)

// isNoData tells the error of SEEK_DATA past the last data (ENXIO).
func isNoData(err error) bool { return errors.Is(err, unix.ENXIO) }
