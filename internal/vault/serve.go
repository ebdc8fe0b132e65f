package vault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"time"
)

// TLSConfig returns the HTTPS configuration: the vault's certificate (chain leaf, root) for
// cfg.Hosts, and client certificates verified against the root when given (configuration servers
// use them; users authenticate with tokens).
func (s *Service) TLSConfig() (*tls.Config, error) {
	hosts := s.cfg.Hosts
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	cert, err := s.ca.serverCertificate(hosts, s.clock.Now())
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.ca.root)
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// Serve serves HTTPS on ln until ctx ends, with the background work (alert evaluation every 30 s,
// webhook delivery every 5 s) running beside it.
func (s *Service) Serve(ctx context.Context, ln net.Listener) error {
	tc, err := s.TLSConfig()
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         tc,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	bg, stop := context.WithCancel(ctx)
	defer stop()
	go s.background(bg)
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// background runs on the elected replica only (leader.go); the others check every 5 s whether
// they must take over.
func (s *Service) background(ctx context.Context) {
	eval := time.NewTicker(30 * time.Second)
	deliver := time.NewTicker(5 * time.Second)
	defer eval.Stop()
	defer deliver.Stop()
	defer s.lead.release()
	wasLeader := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-eval.C:
			if !s.lead.leading() {
				continue
			}
			if err := s.EvaluateAlerts(ctx); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "evaluate alerts", "err", err)
			}
		case <-deliver.C:
			leader := s.lead.check(ctx)
			if leader != wasLeader {
				s.log.InfoContext(ctx, "background work", "leader", leader)
				wasLeader = leader
			}
			if !leader {
				continue
			}
			if _, err := s.DeliverWebhooks(ctx); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "deliver webhooks", "err", err)
			}
		}
	}
}

// Leader reports whether this replica runs the background work (alerts, webhooks) now.
func (s *Service) Leader() bool { return s.lead.leading() }
