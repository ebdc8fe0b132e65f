package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/failover"
)

func (a *app) networkMappingCommand() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "network-mapping", Short: "Map source networks to target and test networks for failover"}
	f.register(cmd, true)
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")
	var req failover.AddMappingRequest
	add := &cobra.Command{
		Use: "add --source-network S --target-network T --test-network X [--ip-mode keep|dhcp]", Short: "Map a source network", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			m, err := c.AddNetworkMapping(cmd.Context(), v, req)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(m)
			}
			fmt.Fprintf(a.stdout, "network %s maps to %s (test: %s), addresses %s\n", m.SourceNetwork, m.TargetNetwork, m.TestNetwork, m.IPMode)
			return nil
		},
	}
	add.Flags().StringVar(&req.SourceNetwork, "source-network", "", "network of the source machines' NICs")
	add.Flags().StringVar(&req.TargetNetwork, "target-network", "", "network NICs go to at failover")
	add.Flags().StringVar(&req.TestNetwork, "test-network", "", "isolated network NICs go to at test failover")
	add.Flags().StringVar(&req.IPMode, "ip-mode", "keep", "addresses on the target: keep (the source's) or dhcp; static is set per NIC (osr failover nic)")
	for _, n := range []string{"source-network", "target-network", "test-network"} {
		add.MarkFlagRequired(n)
	}
	list := &cobra.Command{
		Use: "list", Short: "List network mappings", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			ms, err := c.ListNetworkMappings(cmd.Context(), v)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(ms)
			}
			a.table("SOURCE NETWORK\tTARGET NETWORK\tTEST NETWORK\tIP", func(w io.Writer) {
				for _, m := range ms {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", m.SourceNetwork, m.TargetNetwork, m.TestNetwork, m.IPMode)
				}
			})
			return nil
		},
	}
	remove := &cobra.Command{
		Use: "remove SOURCE-NETWORK", Short: "Remove the mapping of a source network", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			if err := c.RemoveNetworkMapping(cmd.Context(), v, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "mapping of network %s removed\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

func (a *app) targetCommand() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "target", Short: "Failover targets: where failed-over machines are created"}
	f.register(cmd, true)
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")
	var name, provider, dir, format, containerURL, account, prefix, key, keyFile string
	var sets []string
	add := &cobra.Command{
		Use:   "add --name T --provider local --dir D [--format raw|vhd|qcow2] | --provider azure --container-url U [--account A --key-secret K]",
		Short: "Define a failover target", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := failover.AddTargetRequest{Name: name, Provider: provider, Settings: map[string]string{}}
			for flag, setting := range map[string]string{"dir": "dir", "format": "format", "container-url": "container_url", "account": "account", "prefix": "prefix"} {
				if fl := cmd.Flags().Lookup(flag); fl.Changed {
					req.Settings[setting] = fl.Value.String()
				}
			}
			for _, kv := range sets {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("--set %q is not KEY=VALUE", kv)
				}
				req.Settings[k] = v
			}
			req.Secret = key
			if keyFile != "" {
				if key != "" {
					return fmt.Errorf("give --key-secret or --key-secret-file, not both")
				}
				b, err := os.ReadFile(keyFile)
				if err != nil {
					return err
				}
				req.Secret = strings.TrimSpace(string(b))
			}
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			t, err := c.AddFailoverTarget(cmd.Context(), v, req)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(t)
			}
			fmt.Fprintf(a.stdout, "target %s (%s) added\n", t.Name, t.Provider)
			return nil
		},
	}
	fl := add.Flags()
	fl.StringVar(&name, "name", "", "target name")
	fl.StringVar(&provider, "provider", "", "provider: local or azure")
	fl.StringVar(&dir, "dir", "", "local: absolute output directory (on the vault service's host)")
	fl.StringVar(&format, "format", "", "local: disk format raw (default, sparse), vhd (fixed) or qcow2")
	fl.StringVar(&containerURL, "container-url", "", "azure: blob container URL")
	fl.StringVar(&account, "account", "", "azure: storage account name")
	fl.StringVar(&prefix, "prefix", "", "azure: folder in the container")
	fl.StringVar(&key, "key-secret", "", "azure: storage account key (or a SAS token without --account); sealed in the vault")
	fl.StringVar(&keyFile, "key-secret-file", "", "azure: file holding the key")
	fl.StringArrayVar(&sets, "set", nil, "other provider setting KEY=VALUE (repeatable)")
	add.MarkFlagRequired("name")
	add.MarkFlagRequired("provider")

	list := &cobra.Command{
		Use: "list", Short: "List failover targets", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			ts, err := c.ListFailoverTargets(cmd.Context(), v)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(ts)
			}
			a.table("NAME\tPROVIDER\tSETTINGS\tSECRET", func(w io.Writer) {
				for _, t := range ts {
					var kv []string
					for k, v := range t.Settings {
						kv = append(kv, k+"="+v)
					}
					sort.Strings(kv)
					secret := "-"
					if t.HasSecret {
						secret = "sealed"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.Name, t.Provider, strings.Join(kv, " "), secret)
				}
			})
			return nil
		},
	}
	remove := &cobra.Command{
		Use: "remove NAME", Short: "Remove a failover target definition (what it holds stays)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			if err := c.RemoveFailoverTarget(cmd.Context(), v, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "target %s removed\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}
