package mobility

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"time"
)

// tlsDialer returns a dialer of TLS 1.3 with mutual authentication to the process server.
func tlsDialer(cfg *Config) (func(ctx context.Context) (net.Conn, error), error) {
	cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: load agent certificate: %w", err)
	}
	pem, err := os.ReadFile(cfg.TLS.CA)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls: %s holds no PEM certificate", cfg.TLS.CA)
	}
	host, _, _ := net.SplitHostPort(cfg.ProcessServer)
	name := cfg.TLS.ServerName
	if name == "" {
		name = host
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS13}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 15 * time.Second}, Config: tc}
	return func(ctx context.Context) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", cfg.ProcessServer)
	}, nil
}
