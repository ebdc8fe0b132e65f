package main

import "github.com/spf13/cobra"

// configServerCommands returns the top-level commands of the configuration server area, and
// osr up (the all-in-one that runs the vault, a configuration server and its process server).
func (a *app) configServerCommands() []*cobra.Command {
	return []*cobra.Command{a.configServerCommand(), a.accountCommand(), a.infrastructureCommand(), a.upCommand()}
}
