package main

import (
	"github.com/spf13/cobra"
)

func (a *app) processServerCommand() *cobra.Command {
	return &cobra.Command{Use: "process-server", Short: "Replication gateway: receives agents' streams and uploads them to vault storage"}
}
