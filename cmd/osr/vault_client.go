package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/apiclient"
)

// apiFlags are the flags every API command takes to find its server and credentials.
type apiFlags struct {
	server, tokenFile, caFile, dataDir, vault string
	json                                      bool
}

func (f *apiFlags) register(cmd *cobra.Command, withVault bool) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.server, "server", "", "vault service URL (default $OSR_SERVER, then DATA-DIR/"+apiclient.ServerFileName+")")
	pf.StringVar(&f.tokenFile, "token-file", "", "API token file (default $OSR_TOKEN_FILE, then DATA-DIR/"+apiclient.TokenFileName+")")
	pf.StringVar(&f.caFile, "ca-file", "", "vault CA certificate (default $OSR_CA_FILE, then DATA-DIR/"+apiclient.CAFileName+")")
	pf.StringVar(&f.dataDir, "data-dir", "", "data directory of the local vault service (default $OSR_DATA_DIR, then ~/.osr)")
	if withVault {
		pf.StringVar(&f.vault, "vault", "", "vault name (default $OSR_VAULT, or the only vault)")
	}
}

func (a *app) client(f *apiFlags) (*apiclient.Client, error) {
	r, err := apiclient.Options{Server: f.server, TokenFile: f.tokenFile, CAFile: f.caFile, DataDir: f.dataDir, Getenv: a.getenv}.Resolve()
	if err != nil {
		return nil, err
	}
	return apiclient.New(r)
}

// clientVault returns a client and the vault to act on.
func (a *app) clientVault(cmd *cobra.Command, f *apiFlags) (*apiclient.Client, string, error) {
	c, err := a.client(f)
	if err != nil {
		return nil, "", err
	}
	v, err := c.ResolveVault(cmd.Context(), f.vault, a.getenv)
	return c, v, err
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *app) table(header string, rows func(w io.Writer)) {
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	rows(w)
	w.Flush()
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func fmtSeconds(s int64) string { return (time.Duration(s) * time.Second).String() }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
