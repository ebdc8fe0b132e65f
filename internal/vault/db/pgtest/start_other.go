//go:build !unix

package pgtest

import (
	"errors"
	"runtime"
)

// Start fails: the throwaway server runs as another user in a new process group, which needs a
// unix system.
func Start() (*Server, error) {
	return nil, errors.New("pgtest: starting postgresql for tests needs a unix system, not " + runtime.GOOS)
}
