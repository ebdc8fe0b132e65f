package main

import "github.com/spf13/cobra"

// mobilityCommands returns the top-level commands of the mobility area.
func (a *app) mobilityCommands() []*cobra.Command {
	return nil
}
