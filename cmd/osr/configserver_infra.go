package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/apiclient"
	"github.com/opensiterecovery/osr/internal/configserver"
)

func (a *app) infrastructureCommand() *cobra.Command {
	var dataDir string
	var asJSON, fromVault bool
	var api apiFlags
	cmd := &cobra.Command{
		Use:   "infrastructure",
		Short: "Configuration servers and their process servers and agents, with status from heartbeats",
		Long: `Shows what the running configuration server (osr config-server serve) knows: itself and its
link with the vault, its process servers and agents, each Connected, Warning, Critical or
Disconnected. Heartbeats come every 30 s; later than 90 s is a Warning, none for 5 minutes is
Disconnected; process servers are also rated by CPU, memory, cache space and upload backlog.

With --from-vault it asks the vault service instead (--server, --token-file, --ca-file as for
the vault commands) and shows every configuration server of the vault from its last heartbeat.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var inf *configserver.Infrastructure
			var err error
			if fromVault {
				var cl *apiclient.Client
				var v string
				if cl, v, err = a.clientVault(cmd, &api); err != nil {
					return err
				}
				inf, err = vaultInfrastructure(cmd.Context(), cl, v, a.clock)
			} else {
				inf, err = fetchInfrastructure(cmd.Context(), filepath.Join(dataDir, configserver.AdminSocket))
			}
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(inf)
			}
			return writeInfrastructure(a.stdout, inf, a.clock.Now())
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", configserver.DefaultDataDir, "configuration server data directory")
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON output")
	cmd.Flags().BoolVar(&fromVault, "from-vault", false, "show every configuration server of a vault, as the vault service knows them")
	cmd.Flags().StringVar(&api.server, "server", "", "vault service URL (with --from-vault; default $OSR_SERVER)")
	cmd.Flags().StringVar(&api.tokenFile, "token-file", "", "API token file (with --from-vault; default $OSR_TOKEN_FILE)")
	cmd.Flags().StringVar(&api.caFile, "ca-file", "", "vault CA certificate (with --from-vault; default $OSR_CA_FILE)")
	cmd.Flags().StringVar(&api.vault, "vault", "", "vault name (with --from-vault; default $OSR_VAULT, or the only vault)")
	return cmd
}

func fetchInfrastructure(ctx context.Context, sock string) (*configserver.Infrastructure, error) {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://config-server/v1/infrastructure", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the configuration server is not running (no answer on %s): %w", sock, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("configuration server: HTTP %d: %s", resp.StatusCode, b)
	}
	var inf configserver.Infrastructure
	if err := json.Unmarshal(b, &inf); err != nil {
		return nil, fmt.Errorf("decode infrastructure: %w", err)
	}
	return &inf, nil
}

func ago(t *time.Time, now time.Time) string {
	if t == nil {
		return "never"
	}
	return now.Sub(*t).Truncate(time.Second).String() + " ago"
}

func writeInfrastructure(w io.Writer, inf *configserver.Infrastructure, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tTYPE\tADDRESS\tSTATUS\tLAST HEARTBEAT\tDETAIL")
	for _, cs := range inf.ConfigurationServers {
		fmt.Fprintf(tw, "%s\tconfiguration server\tvault %s\t%s\t%s\t%s\n", cs.Name, cs.Vault, cs.Status, ago(cs.LastVault, now), dash(cs.Reason))
		for _, p := range cs.ProcessServers {
			fmt.Fprintf(tw, "%s\tprocess server\t%s\t%s\t%s\t%s\n", p.Name, p.Address, p.Status, ago(p.LastSeen, now), dash(join(p.Reason, fmt.Sprintf("%d machines", p.Agents))))
		}
		for _, ag := range cs.Agents {
			fmt.Fprintf(tw, "%s\tmobility agent\tvia %s\t%s\t%s\t%s\n", ag.Machine, dash(ag.ProcessServer), ag.Status, ago(ag.LastSeen, now), dash(join(ag.Reason, ag.State)))
		}
		for _, vc := range cs.VCenters {
			fmt.Fprintf(tw, "%s\tvCenter\t%s\t%s\t%s\t%s\n", vc.Name, vc.Address, vc.Status, ago(vc.LastSync, now), dash(join(vc.Reason, fmt.Sprintf("%d VMs", vc.VMs))))
		}
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
