//go:build !unix

package childproc

import "os/exec"

// ownGroup leaves cmd as it is: its cancellation kills the process.
func ownGroup(cmd *exec.Cmd) {}
