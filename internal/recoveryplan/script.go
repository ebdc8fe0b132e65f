package recoveryplan

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/childproc"
	"github.com/opensiterecovery/osr/internal/vault"
)

// script runs a group's before or after script on this host, without a shell, with the plan and
// group in its environment, and fails the run when it fails or outlives Config.ScriptTimeout.
func (s *Service) script(ctx context.Context, v *vault.Vault, p *Plan, runID, op string, st Step, g Group, label string) error {
	start := s.clock.Now()
	s.stepState(ctx, runID, st.Seq, StateRunning, start, time.Time{}, "", "", 0, "", "")
	sctx, cancel := context.WithTimeout(ctx, s.cfg.ScriptTimeout)
	defer cancel()
	cmd := childproc.Command(sctx, st.Name)
	cmd.Env = append(append([]string(nil), s.cfg.Environ...),
		"OSR_VAULT="+v.Name,
		"OSR_PLAN="+p.Name,
		"OSR_PLAN_RUN="+runID,
		"OSR_PLAN_OPERATION="+op,
		"OSR_PLAN_GROUP="+strconv.Itoa(st.Group),
		"OSR_PLAN_GROUP_NAME="+g.Name,
		"OSR_PLAN_STEP="+st.Kind,
		"OSR_PLAN_MACHINES="+strings.Join(g.Machines, " "),
	)
	var out childproc.Tail
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var runErr error
	switch {
	case err == nil:
	case errors.Is(sctx.Err(), context.DeadlineExceeded):
		runErr = fmt.Errorf("%s: %s script %s did not finish within %s", label, st.Kind, st.Name, s.cfg.ScriptTimeout)
	case ctx.Err() != nil:
		runErr = errStopped
	default:
		runErr = fmt.Errorf("%s: %s script %s failed: %v", label, st.Kind, st.Name, err)
		if l := out.LastLine(); l != "" {
			runErr = fmt.Errorf("%w: %s", runErr, l)
		}
	}
	state, msg := StateSucceeded, ""
	if runErr != nil {
		state, msg = StateFailed, runErr.Error()
	}
	s.stepState(ctx, runID, st.Seq, state, start, s.clock.Now(), "", "", 0, out.String(), msg)
	return runErr
}
