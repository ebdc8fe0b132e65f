package mobility

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// runShutdownHook runs hooks.shutdown (arguments: shutdown, machine, seq of the final point) with
// the hooks' timeout and records the outcome as an event. Its error says why it failed, with the
// end of the script's output.
func (a *Agent) runShutdownHook(ctx context.Context, seq uint64) error {
	path := a.cfg.Hooks.Shutdown
	hctx, cancel := context.WithTimeout(ctx, a.cfg.Hooks.Timeout)
	defer cancel()
	cmd := exec.CommandContext(hctx, path, "shutdown", a.cfg.Machine, strconv.FormatUint(seq, 10))
	cmd.WaitDelay = time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	dur := time.Since(start)
	tail := strings.TrimSpace(string(out))
	if len(tail) > 512 {
		tail = tail[len(tail)-512:]
	}
	attrs := []string{"hook", "shutdown", "script", path, "duration", dur.Round(time.Millisecond).String(), "output", tail}
	withOutput := func(msg string) error {
		if tail != "" {
			msg += ": " + tail
		}
		return errors.New(msg)
	}
	var ee *exec.ExitError
	switch {
	case errors.Is(hctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		msg := "shutdown hook timed out after " + a.cfg.Hooks.Timeout.String()
		a.mon.event("hook-timeout", "warning", msg, attrs...)
		return errors.New(msg)
	case ctx.Err() != nil:
		return fmt.Errorf("shutdown hook: %w", ctx.Err())
	case errors.As(err, &ee):
		msg := "shutdown hook exited with code " + strconv.Itoa(ee.ExitCode())
		a.mon.event("hook-failed", "warning", msg, append(attrs, "exit_code", strconv.Itoa(ee.ExitCode()))...)
		return withOutput(msg)
	case err != nil:
		msg := "shutdown hook could not run: " + err.Error()
		a.mon.event("hook-failed", "warning", msg, attrs...)
		return errors.New(msg)
	}
	a.mon.event("hook", "info", "shutdown hook succeeded", append(attrs, "exit_code", "0")...)
	return nil
}
