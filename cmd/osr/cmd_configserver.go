package main

import "github.com/spf13/cobra"

// configServerCommands returns the top-level commands of the configuration server area.
func (a *app) configServerCommands() []*cobra.Command {
	return []*cobra.Command{a.configServerCommand(), a.accountCommand(), a.infrastructureCommand()}
}
