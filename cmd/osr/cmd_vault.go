package main

import "github.com/spf13/cobra"

// vaultCommands returns the top-level commands of the vault service and its API clients area.
func (a *app) vaultCommands() []*cobra.Command {
	return []*cobra.Command{
		a.vaultCommand(),
		a.policyCommand(),
		a.replicationCommand(),
		a.recoveryPointsCommand(),
		a.jobsCommand(),
		a.alertsCommand(),
		a.eventsCommand(),
		a.webhookCommand(),
		a.userCommand(),
		a.tokenCommand(),
		a.auditCommand(),
	}
}
