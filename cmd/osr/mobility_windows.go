package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/winsvc"
)

// asWindowsService makes serve run as a Windows service when the service manager started the
// process: the agent's context ends on Stop or Shutdown, and its log goes to mobility.log next to
// the configuration file (a service has no console).
func (a *app) asWindowsService(serve *cobra.Command) {
	run := serve.RunE
	serve.RunE = func(cmd *cobra.Command, args []string) error {
		isService, err := winsvc.IsService()
		if err != nil {
			return fmt.Errorf("cannot tell whether the service manager started osr: %w", err)
		}
		if !isService {
			return run(cmd, args)
		}
		if f := cmd.Flags().Lookup("config"); f != nil {
			logPath := filepath.Join(filepath.Dir(f.Value.String()), "mobility.log")
			if lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err == nil {
				defer lf.Close()
				a.stderr = lf
			}
		}
		return winsvc.Run(winsvc.DefaultName, func(ctx context.Context) error {
			cmd.SetContext(ctx)
			return run(cmd, args)
		})
	}
}

// mobilityServiceCommand returns "mobility service install|uninstall": registration of the
// mobility service with the Windows service manager.
func (a *app) mobilityServiceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Register the mobility service with the Windows service manager, or remove it",
	}
	var name string
	var start bool
	install := &cobra.Command{
		Use:   "install",
		Short: "Register osr mobility serve --config CONFIG as an automatic Windows service (run as an administrator)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			config, err := filepath.Abs(cmd.Flags().Lookup("config").Value.String())
			if err != nil {
				return err
			}
			if _, err := os.Stat(config); err != nil {
				return fmt.Errorf("configuration file: %w", err)
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("path of this program: %w", err)
			}
			serveArgs, err := winsvc.ServeArgs(config)
			if err != nil {
				return err
			}
			if err := winsvc.Install(cmd.Context(), winsvc.Config{Name: name, Exe: exe, Args: serveArgs, Start: start}); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "service %s registered: %s %v\n", serviceName(name), exe, serveArgs)
			return nil
		},
	}
	install.Flags().StringVar(&name, "name", winsvc.DefaultName, "service name")
	install.Flags().BoolVar(&start, "start", true, "start the service once registered")
	uninstall := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop the mobility service and remove it from the Windows service manager (run as an administrator)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := winsvc.Uninstall(cmd.Context(), name); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "service %s removed\n", serviceName(name))
			return nil
		},
	}
	uninstall.Flags().StringVar(&name, "name", winsvc.DefaultName, "service name")
	cmd.AddCommand(install, uninstall)
	return cmd
}

func serviceName(name string) string {
	if name == "" {
		return winsvc.DefaultName
	}
	return name
}
