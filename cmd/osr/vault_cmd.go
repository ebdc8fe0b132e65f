package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/vault"
)

func (a *app) vaultCommand() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "vault", Short: "Vaults: create, list, show, delete, registration keys, target, and the vault service"}
	f.register(cmd, false)
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")

	create := &cobra.Command{
		Use: "create NAME --storage URL", Short: "Create a vault and its replica store", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			storageURL, _ := cmd.Flags().GetString("storage")
			c, err := a.client(f)
			if err != nil {
				return err
			}
			v, err := c.CreateVault(cmd.Context(), vault.CreateVaultRequest{Name: args[0], StorageURL: storageURL})
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(v)
			}
			fmt.Fprintf(a.stdout, "vault %s created (%s), storage %s\n", v.Name, v.ID, v.StorageURL)
			return nil
		},
	}
	create.Flags().String("storage", "", "vault storage URL: a directory, file://, azure://CONTAINER/PREFIX or s3://HOST:PORT/BUCKET/PREFIX")
	create.MarkFlagRequired("storage")

	list := &cobra.Command{
		Use: "list", Short: "List vaults", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			vs, err := c.ListVaults(cmd.Context())
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(vs)
			}
			a.table("NAME\tID\tSTORAGE\tTARGET\tITEMS\tCONFIG SERVERS", func(w io.Writer) {
				for _, v := range vs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\n", v.Name, v.ID, v.StorageURL, orDash(v.Target.Provider), v.ProtectedItems, v.ConfigServers)
				}
			})
			return nil
		},
	}

	show := &cobra.Command{
		Use: "show NAME", Short: "Show a vault", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			v, err := c.GetVault(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(v)
			}
			fmt.Fprintf(a.stdout, "Name:             %s\nID:               %s\nStorage:          %s\nTarget provider:  %s\nTarget location:  %s\nResource group:   %s\nNetwork:          %s\nProtected items:  %d\nConfig servers:   %d\nCreated:          %s\n",
				v.Name, v.ID, v.StorageURL, orDash(v.Target.Provider), orDash(v.Target.Location), orDash(v.Target.ResourceGroup), orDash(v.Target.Network), v.ProtectedItems, v.ConfigServers, fmtTime(&v.Created))
			return nil
		},
	}

	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a vault (refused while it protects machines; its storage is left alone)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			if err := c.DeleteVault(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "vault %s deleted\n", args[0])
			return nil
		},
	}

	var out string
	regkey := &cobra.Command{
		Use: "registration-key --vault V --out FILE", Short: "Write a registration key for a configuration server (valid 5 days, single use)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			rk, err := c.CreateRegistrationKey(cmd.Context(), v)
			if err != nil {
				return err
			}
			if err := vault.WriteRegistrationKey(out, rk.Key); err != nil {
				return fmt.Errorf("write registration key: %w", err)
			}
			if f.json {
				rk.Key = ""
				return a.printJSON(rk)
			}
			fmt.Fprintf(a.stdout, "registration key %s written to %s (valid until %s)\n", rk.ID, out, fmtTime(&rk.Expires))
			return nil
		},
	}
	regkey.Flags().StringVar(&f.vault, "vault", "", "vault name (default $OSR_VAULT, or the only vault)")
	regkey.Flags().StringVar(&out, "out", "", "file to write (created 0600; never overwritten)")
	regkey.MarkFlagRequired("out")

	var t vault.Target
	target := &cobra.Command{
		Use: "target NAME --provider local|azure --location L", Short: "Set where failed-over machines go", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			v, err := c.SetTarget(cmd.Context(), args[0], t)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(v)
			}
			fmt.Fprintf(a.stdout, "vault %s: target %s %s\n", v.Name, v.Target.Provider, v.Target.Location)
			return nil
		},
	}
	target.Flags().StringVar(&t.Provider, "provider", "local", "local (disk images in a directory) or azure (page blobs)")
	target.Flags().StringVar(&t.Location, "location", "", "local: an absolute directory; azure: azure://CONTAINER/PREFIX")
	target.Flags().StringVar(&t.ResourceGroup, "resource-group", "", "azure: resource group of the failed-over machines")
	target.Flags().StringVar(&t.Network, "network", "", "target network failed-over machines attach to")

	cmd.AddCommand(create, list, show, del, regkey, target, a.vaultConfigServerCommand(f), a.vaultServeCommand())
	return cmd
}

// readSecretFile reads a one-line secret (trailing newline dropped).
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := string(b)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s, nil
}

func (a *app) vaultConfigServerCommand(f *apiFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "config-server", Short: "Configuration servers registered with a vault"}
	cmd.PersistentFlags().StringVar(&f.vault, "vault", "", "vault name (default $OSR_VAULT, or the only vault)")
	list := &cobra.Command{
		Use: "list", Short: "List registered configuration servers", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			css, err := c.ListConfigServers(cmd.Context(), v)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(css)
			}
			a.table("NAME\tID\tHOSTNAME\tSTATUS\tLAST HEARTBEAT\tPROCESS SERVERS\tAGENTS", func(w io.Writer) {
				for _, cs := range css {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\n", cs.Name, cs.ID, orDash(cs.Hostname), cs.Status, fmtTime(cs.LastHeartbeat), len(cs.Heartbeat.ProcessServers), len(cs.Heartbeat.Agents))
				}
			})
			return nil
		},
	}
	remove := &cobra.Command{
		Use: "remove NAME", Short: "Unregister a configuration server (refused while it drives protected items)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, v, err := a.clientVault(cmd, f)
			if err != nil {
				return err
			}
			if err := c.RemoveConfigServer(cmd.Context(), v, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "configuration server %s removed\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(list, remove)
	return cmd
}
