package main

import "github.com/spf13/cobra"

// pipelineCommands returns the top-level commands of the pki and process-server area.
func (a *app) pipelineCommands() []*cobra.Command {
	return []*cobra.Command{a.pkiCommand(), a.processServerCommand()}
}
