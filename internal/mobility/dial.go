package mobility

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/wire"
)

// tlsDialer returns a dialer of TLS 1.3 with mutual authentication to the process server: the
// agent presents its certificate (role agent, its machine name) and accepts only a server whose
// certificate chains to the configured CA and is for role process-server.
func tlsDialer(cfg *Config) (func(ctx context.Context) (net.Conn, error), error) {
	id, err := pki.LoadIdentity(cfg.TLS.Cert, cfg.TLS.Key, cfg.TLS.CA)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	if id.Role != pki.RoleAgent || id.Name != cfg.Machine {
		return nil, fmt.Errorf("tls: certificate %s is for %s %s, not agent %s", cfg.TLS.Cert, id.Role, id.Name, cfg.Machine)
	}
	host, _, _ := net.SplitHostPort(cfg.ProcessServer)
	name := cfg.TLS.ServerName
	if name == "" {
		name = host
	}
	tc := id.ClientConfig(name, pki.PeerCheck{Roles: []pki.Role{pki.RoleProcessServer}})
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 15 * time.Second}
	return func(ctx context.Context) (net.Conn, error) {
		raw, err := d.DialContext(ctx, "tcp", cfg.ProcessServer)
		if err != nil {
			return nil, err
		}
		// TLS over a StreamConn: its records leave in large writes (wire.StreamConn).
		c := tls.Client(wire.NewStreamConn(raw), tc)
		if err := c.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		return c, nil
	}, nil
}
