package main

import (
	"log/slog"
	"os"
	"os/exec"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/freeze"
)

// freezeGuardian returns how the agent starts its freeze guardian: this binary again, as
// `osr mobility freeze-guard`, in a process group of its own so that a signal meant for the agent
// (a terminal's Ctrl-C, a kill of its group) does not take the guardian with it.
func freezeGuardian() func() *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		return nil // the journal alone protects
	}
	return func() *exec.Cmd {
		cmd := exec.Command(exe, "mobility", "freeze-guard")
		cmd.Stdout, cmd.Stderr = nil, os.Stderr
		ownProcessGroup(cmd)
		return cmd
	}
}

// freezeGuardCommand is the guardian: it reads what its agent says it freezes and thaws it when the
// agent's end of the pipe closes while frozen (the agent died).
func (a *app) freezeGuardCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "freeze-guard",
		Short:  "Thaw the agent's frozen filesystems if the agent dies (started by the agent itself)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "freeze-guard")
			freeze.RunGuardian(cmd.InOrStdin(), log)
			return nil
		},
	}
}
