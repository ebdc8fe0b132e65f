package freeze

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// thawPath thaws the filesystem mounted at path; one that is not frozen is not an error.
func thawPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for range 3 {
		err = ioctl(f, fiThaw)
		if err == nil || errors.Is(err, unix.EINVAL) { // EINVAL: not frozen
			return nil
		}
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
	return err
}
