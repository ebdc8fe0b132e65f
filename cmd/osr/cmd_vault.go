package main

import "github.com/spf13/cobra"

// vaultCommands returns the top-level commands of the vault service and its API clients area.
func (a *app) vaultCommands() []*cobra.Command {
	return nil
}
