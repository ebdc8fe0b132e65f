package pushinstall

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver"
)

// Heartbeats tells how the configuration server rates an agent's heartbeat.
type Heartbeats interface {
	// AgentStatus returns the agent's status (configserver.Connected when its heartbeats arrive)
	// and the reason for any other; a machine the configuration server does not know is an error.
	AgentStatus(ctx context.Context, machine string) (configserver.Status, string, error)
}

// AdminSocket reads agent statuses from a configuration server's admin socket
// (DATA-DIR/admin.sock, GET /v1/infrastructure), the same view as osr infrastructure.
type AdminSocket struct{ Path string }

// AgentStatus implements Heartbeats.
func (a AdminSocket) AgentStatus(ctx context.Context, machine string) (configserver.Status, string, error) {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", a.Path)
		}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://admin/v1/infrastructure", nil)
	if err != nil {
		return "", "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("configuration server admin socket %s: %w", a.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("configuration server admin socket: %s", resp.Status)
	}
	var inf configserver.Infrastructure
	if err := json.Unmarshal(b, &inf); err != nil {
		return "", "", fmt.Errorf("configuration server admin socket: %w", err)
	}
	for _, cs := range inf.ConfigurationServers {
		for _, ag := range cs.Agents {
			if ag.Machine == machine {
				return ag.Status, ag.Reason, nil
			}
		}
	}
	return "", "", fmt.Errorf("the configuration server does not know machine %s", machine)
}
