package pushinstall

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
)

// runner runs a shell command as root on the machine being installed.
type runner interface {
	run(ctx context.Context, cmd string) (string, error)
}

// local runs commands on this machine (the non-interactive local install).
type local struct{}

func (local) run(ctx context.Context, cmd string) (string, error) {
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		msg := strings.TrimSpace(errb.String())
		return out.String(), &cmdError{status: ee.ExitCode(), msg: msg}
	}
	return out.String(), err
}

// StartLocal (re)starts the agent of l on this machine as a service: systemd where it runs and
// l.Root is "/", otherwise the supervised process. It returns the service kind.
func StartLocal(ctx context.Context, l Layout) (string, error) { return l.startService(ctx, local{}) }

// StopLocal stops the agent's service on this machine.
func StopLocal(ctx context.Context, l Layout) error { return l.stopService(ctx, local{}) }
