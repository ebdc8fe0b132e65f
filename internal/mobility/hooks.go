package mobility

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// runHook runs a pre-freeze or post-thaw script with a timeout and records the outcome as an
// event. It returns false when the script failed, timed out or could not start.
func (a *Agent) runHook(ctx context.Context, which, path string, seq uint64) bool {
	if path == "" {
		return true
	}
	hctx, cancel := context.WithTimeout(ctx, a.cfg.Hooks.Timeout)
	defer cancel()
	cmd := exec.CommandContext(hctx, path, which, a.cfg.Machine, strconv.FormatUint(seq, 10))
	cmd.WaitDelay = time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	dur := time.Since(start)
	tail := strings.TrimSpace(string(out))
	if len(tail) > 512 {
		tail = tail[len(tail)-512:]
	}
	attrs := []string{"hook", which, "script", path, "duration", dur.Round(time.Millisecond).String(), "output", tail}
	var ee *exec.ExitError
	switch {
	case errors.Is(hctx.Err(), context.DeadlineExceeded):
		a.mon.event("hook-timeout", "warning", which+" hook timed out after "+a.cfg.Hooks.Timeout.String(), attrs...)
		return false
	case errors.As(err, &ee):
		a.mon.event("hook-failed", "warning", which+" hook exited with code "+strconv.Itoa(ee.ExitCode()),
			append(attrs, "exit_code", strconv.Itoa(ee.ExitCode()))...)
		return false
	case err != nil:
		a.mon.event("hook-failed", "warning", which+" hook could not run: "+err.Error(), attrs...)
		return false
	}
	a.mon.event("hook", "info", which+" hook succeeded", append(attrs, "exit_code", "0")...)
	return true
}
