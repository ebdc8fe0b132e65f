//go:build !windows

package main

import (
	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/winsvc"
)

// asWindowsService leaves serve as it is: there is no Windows service manager here.
func (a *app) asWindowsService(serve *cobra.Command) {}

// mobilityServiceCommand returns "mobility service install|uninstall", which exist for Windows; here
// they say that systemd units come from osr mobility install and deploy.
func (a *app) mobilityServiceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Windows only: register the mobility service with the Windows service manager (systemd units come from osr mobility install)",
	}
	for _, use := range []string{"install", "uninstall"} {
		cmd.AddCommand(&cobra.Command{
			Use:                use,
			Short:              "Windows only (on linux: osr mobility install or osr mobility deploy)",
			DisableFlagParsing: true,
			RunE:               func(*cobra.Command, []string) error { return winsvc.ErrNotWindows },
		})
	}
	return cmd
}
