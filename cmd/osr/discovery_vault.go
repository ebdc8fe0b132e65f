package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/apiclient"
	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vcenter"
)

// vcenterVault holds the flags of the vault forms of osr vcenter: with --vault, a command goes
// through the vault service's API (the request reaches the configuration server as desired
// state) instead of the configuration server's own data directory.
type vcenterVault struct {
	api          apiFlags
	configServer string
	wait         time.Duration
}

func (f *vcenterVault) register(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.api.vault, "vault", "", "go through this vault of the vault service instead of the local configuration server")
	pf.StringVar(&f.api.server, "server", "", "vault service URL (with --vault; default $OSR_SERVER)")
	pf.StringVar(&f.api.tokenFile, "token-file", "", "API token file (with --vault; default $OSR_TOKEN_FILE)")
	pf.StringVar(&f.api.caFile, "ca-file", "", "vault CA certificate (with --vault; default $OSR_CA_FILE)")
	pf.DurationVar(&f.wait, "wait", 2*time.Minute, "with --vault: how long to wait for the configuration server to carry the request out (0: do not wait)")
}

// on reports whether the command was given --vault.
func (f *vcenterVault) on(cmd *cobra.Command) bool { return cmd.Flags().Changed("vault") }

func (a *app) vcClient(cmd *cobra.Command, f *vcenterVault) (*apiclient.Client, string, error) {
	c, err := a.client(&f.api)
	if err != nil {
		return nil, "", err
	}
	v, err := c.ResolveVault(cmd.Context(), f.api.vault, a.getenv)
	return c, v, err
}

func vcPath(vaultName string, rest ...string) string {
	p := "/vaults/" + url.PathEscape(vaultName) + "/vcenters"
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// vcAwait polls the vCenter until the configuration server has carried out the request (nothing
// pending; gone for a removal) or f.wait passes. It returns the last view (nil: gone).
func vcAwait(ctx context.Context, c *apiclient.Client, vaultName, name string, wait time.Duration, last *vault.VCenterView) (*vault.VCenterView, error) {
	deadline := time.Now().Add(wait)
	for last != nil && last.Pending != "" && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		var v vault.VCenterView
		err := c.Do(ctx, http.MethodGet, vcPath(vaultName, name), nil, &v)
		var ae *apiclient.Error
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			return nil, nil
		}
		if err != nil {
			return last, err
		}
		last = &v
	}
	return last, nil
}

// vcOutcome prints what became of a request and turns a vCenter left Disconnected, or a request
// still pending, into exit code 1.
func vcOutcome(w io.Writer, verb string, v *vault.VCenterView) error {
	switch {
	case v == nil:
		fmt.Fprintf(w, "vCenter %s\n", verb)
		return nil
	case v.Pending != "":
		fmt.Fprintf(w, "vCenter %s: %s requested from configuration server %s, not carried out yet (status %s)\n", v.Name, v.Pending, v.ConfigServer, v.Status)
		return &exitError{code: 1, err: fmt.Errorf("vcenter %s: configuration server %s has not carried out the %s yet: osr vcenter list --vault shows when it has", v.Name, v.ConfigServer, v.Pending)}
	}
	fmt.Fprintf(w, "vCenter %s %s: %s, %d virtual machines (configuration server %s)\n", v.Name, verb, v.Status, v.VMs, v.ConfigServer)
	if v.Status == vault.VCenterDisconnected {
		return errors.New(v.Error)
	}
	return nil
}

func (a *app) vcVaultAdd(cmd *cobra.Command, f *vcenterVault, v vcenter.VCenter) error {
	c, vaultName, err := a.vcClient(cmd, f)
	if err != nil {
		return err
	}
	var got vault.VCenterView
	req := vault.AddVCenterRequest{Name: v.Name, Address: v.Address, Port: v.Port, Account: v.Account, Thumbprint: v.Thumbprint, ConfigServer: f.configServer}
	if err := c.Do(cmd.Context(), http.MethodPost, vcPath(vaultName), req, &got); err != nil {
		return err
	}
	last, err := vcAwait(cmd.Context(), c, vaultName, v.Name, f.wait, &got)
	if err != nil {
		return err
	}
	if last != nil && last.Pending == "" && last.Thumbprint != "" && v.Thumbprint == "" {
		fmt.Fprintf(a.stdout, "Certificate of %s: SHA-256 %s (pinned at the first connection; compare it with the one vCenter shows)\n", v.Address, last.Thumbprint)
	}
	return vcOutcome(a.stdout, "added", last)
}

func (a *app) vcVaultList(cmd *cobra.Command, f *vcenterVault, asJSON bool) error {
	c, vaultName, err := a.vcClient(cmd, f)
	if err != nil {
		return err
	}
	var vs []vault.VCenterView
	if err := c.Do(cmd.Context(), http.MethodGet, vcPath(vaultName), nil, &vs); err != nil {
		return err
	}
	if asJSON {
		return a.printJSON(vs)
	}
	a.table("NAME\tCONFIG SERVER\tADDRESS\tACCOUNT\tSTATUS\tVMS\tLAST SYNC\tPENDING\tERROR", func(w io.Writer) {
		for _, v := range vs {
			last := "-"
			if v.LastSync != nil {
				last = v.LastSync.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s:%d\t%s\t%s\t%d\t%s\t%s\t%s\n", v.Name, v.ConfigServer, v.Address, v.Port, v.Account, v.Status, v.VMs, last, orDash(v.Pending), orDash(v.Error))
		}
	})
	return nil
}

func (a *app) vcVaultRefresh(cmd *cobra.Command, f *vcenterVault, names []string) error {
	c, vaultName, err := a.vcClient(cmd, f)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		var vs []vault.VCenterView
		if err := c.Do(cmd.Context(), http.MethodGet, vcPath(vaultName), nil, &vs); err != nil {
			return err
		}
		for _, v := range vs {
			names = append(names, v.Name)
		}
	}
	var errs []error
	for _, n := range names {
		var got vault.VCenterView
		if err := c.Do(cmd.Context(), http.MethodPost, vcPath(vaultName, n, "refresh"), nil, &got); err != nil {
			errs = append(errs, fmt.Errorf("vcenter %s: %w", n, err))
			continue
		}
		last, err := vcAwait(cmd.Context(), c, vaultName, n, f.wait, &got)
		if err == nil {
			err = vcOutcome(a.stdout, "refreshed", last)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (a *app) vcVaultRemove(cmd *cobra.Command, f *vcenterVault, name string) error {
	c, vaultName, err := a.vcClient(cmd, f)
	if err != nil {
		return err
	}
	var got *vault.VCenterView
	if err := c.Do(cmd.Context(), http.MethodDelete, vcPath(vaultName, name), nil, &got); err != nil {
		return err
	}
	last, err := vcAwait(cmd.Context(), c, vaultName, name, f.wait, got)
	if err != nil {
		return err
	}
	return vcOutcome(a.stdout, name+" removed", last)
}

// addVaultVCenters puts the vault's vCenters beside their configuration servers in an
// infrastructure view (osr infrastructure --from-vault), as the configuration server's own view
// lists its vCenters.
func addVaultVCenters(ctx context.Context, c *apiclient.Client, vaultName string, inf *configserver.Infrastructure) error {
	var vs []vault.VCenterView
	if err := c.Do(ctx, http.MethodGet, vcPath(vaultName), nil, &vs); err != nil {
		return err
	}
	for i := range inf.ConfigurationServers {
		cs := &inf.ConfigurationServers[i]
		cs.VCenters = []vcenter.Summary{}
		for _, v := range vs {
			if v.ConfigServer != cs.Name {
				continue
			}
			cs.VCenters = append(cs.VCenters, vcenter.Summary{Name: v.Name, Address: net.JoinHostPort(v.Address, strconv.Itoa(v.Port)),
				Status: vcenter.Status(v.Status), Reason: v.Error, LastSync: v.LastSync, VMs: v.VMs})
		}
	}
	return nil
}
