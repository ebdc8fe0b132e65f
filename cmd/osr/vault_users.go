package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/vault"
)

func (a *app) userCommand() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "user", Short: "Users and their roles (owner, contributor, operator, reader)"}
	f.register(cmd, false)
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")
	var role, pwFile string
	add := &cobra.Command{
		Use: "add NAME --role R [--password-file F]", Short: "Add a user", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			req := vault.AddUserRequest{Name: args[0], Role: role}
			if pwFile != "" {
				if req.Password, err = readSecretFile(pwFile); err != nil {
					return fmt.Errorf("read password: %w", err)
				}
			}
			u, err := c.AddUser(cmd.Context(), req)
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(u)
			}
			fmt.Fprintf(a.stdout, "user %s added with role %s\n", u.Name, u.Role)
			return nil
		},
	}
	add.Flags().StringVar(&role, "role", "reader", "owner, contributor, operator (failover only) or reader")
	add.Flags().StringVar(&pwFile, "password-file", "", "file holding the user's portal password (at least 12 characters)")
	list := &cobra.Command{
		Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			us, err := c.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(us)
			}
			a.table("NAME\tROLE\tPASSWORD\tCREATED", func(w io.Writer) {
				for _, u := range us {
					fmt.Fprintf(w, "%s\t%s\t%v\t%s\n", u.Name, u.Role, u.HasPassword, fmtTime(&u.Created))
				}
			})
			return nil
		},
	}
	remove := &cobra.Command{
		Use: "remove NAME", Short: "Remove a user and its tokens", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			if err := c.RemoveUser(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "user %s removed\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

func (a *app) tokenCommand() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{Use: "token", Short: "API tokens"}
	f.register(cmd, false)
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON")
	var user, name, out string
	var ttl time.Duration
	create := &cobra.Command{
		Use: "create [--user U] [--name N] [--ttl D] [--out FILE]", Short: "Create an API token (shown once)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			t, err := c.CreateToken(cmd.Context(), vault.CreateTokenRequest{User: user, Name: name, TTLSeconds: int64(ttl / time.Second)})
			if err != nil {
				return err
			}
			if out != "" {
				if err := writeFileExcl(out, t.Secret+"\n", 0o600); err != nil {
					return err
				}
				t.Secret = ""
			}
			if f.json {
				return a.printJSON(t)
			}
			if out != "" {
				fmt.Fprintf(a.stdout, "token %s for %s written to %s\n", t.ID, t.User, out)
			} else {
				fmt.Fprintf(a.stdout, "token %s for %s:\n%s\n", t.ID, t.User, t.Secret)
			}
			return nil
		},
	}
	create.Flags().StringVar(&user, "user", "", "user the token acts as (default: yourself; another user needs the owner role)")
	create.Flags().StringVar(&name, "name", "", "what the token is for")
	create.Flags().DurationVar(&ttl, "ttl", 0, "validity (0: no expiry)")
	create.Flags().StringVar(&out, "out", "", "write the token to this file (0600) instead of printing it")
	list := &cobra.Command{
		Use: "list", Short: "List your tokens (an owner: everyone's)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			ts, err := c.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			if f.json {
				return a.printJSON(ts)
			}
			a.table("ID\tUSER\tNAME\tCREATED\tEXPIRES", func(w io.Writer) {
				for _, t := range ts {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.User, orDash(t.Name), fmtTime(&t.Created), fmtTime(t.Expires))
				}
			})
			return nil
		},
	}
	revoke := &cobra.Command{
		Use: "revoke ID", Short: "Revoke a token", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(f)
			if err != nil {
				return err
			}
			if err := c.RevokeToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "token %s revoked\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
