package csclient

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/enroll"
	"github.com/opensiterecovery/osr/internal/configserver/privfile"
)

// RunConfig says what a holder reports and how it takes its configuration.
type RunConfig struct {
	// Heartbeat returns the body of the next heartbeat (configserver.PSHealth or AgentHeartbeat).
	Heartbeat func() any
	// OnConfig receives every new configuration (configserver.AgentConfig or PSConfig as JSON).
	OnConfig func(ctx context.Context, raw json.RawMessage)
	// Interval between heartbeats; default configserver.HeartbeatInterval.
	Interval time.Duration
	// Wait is the long poll of configuration fetches; default 55 s.
	Wait time.Duration
	// Kick, when it delivers, sends a heartbeat at once instead of at the next tick (the holder's
	// state changed: a new point, another replication state), so that the change reaches the
	// configuration server, and from there the vault, within a round trip.
	Kick   <-chan struct{}
	Logger *slog.Logger
}

// Run sends heartbeats, follows the configuration by long poll and renews the certificate when
// the configuration server says so, until ctx ends. Errors are logged and retried; Run returns
// only ctx's error.
func (c *Client) Run(ctx context.Context, rc RunConfig) error {
	if rc.Interval <= 0 {
		rc.Interval = configserver.HeartbeatInterval
	}
	if rc.Wait <= 0 {
		rc.Wait = 55 * time.Second
	}
	if rc.Logger == nil {
		rc.Logger = slog.New(slog.DiscardHandler)
	}
	asks := &healthAsks{ch: make(chan struct{}, 1)}
	go c.followConfig(ctx, rc, asks)
	t := time.NewTicker(rc.Interval)
	defer t.Stop()
	for {
		ask := asks.newest() // before the health is read: the heartbeat answers it
		hb := rc.Heartbeat()
		body, err := withAnswer(hb, ask)
		if err != nil {
			rc.Logger.Error("heartbeat body", "err", err)
			body = hb
		}
		ans, err := c.Heartbeat(ctx, body)
		switch {
		case err != nil && ctx.Err() == nil:
			rc.Logger.Warn("heartbeat to the configuration server failed", "err", err)
		case err == nil && ans.RenewCert:
			if err := c.RenewFiles(ctx); err != nil {
				rc.Logger.Error("certificate renewal failed", "err", err)
			} else {
				rc.Logger.Info("certificate renewed")
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-rc.Kick:
		case <-asks.ch:
		}
	}
}

func (c *Client) followConfig(ctx context.Context, rc RunConfig, asks *healthAsks) {
	var since int64 = -1
	for ctx.Err() == nil {
		var raw json.RawMessage
		var version int64
		var err error
		if c.link.Role == enroll.RoleProcessServer {
			var pc *configserver.PSConfig
			if pc, err = c.PSConfig(ctx, since, rc.Wait); err == nil {
				version = pc.Version
				asks.saw(pc.HealthAsk)
				raw, err = json.Marshal(pc)
			}
		} else {
			var ac *configserver.AgentConfig
			if ac, err = c.AgentConfig(ctx, since, rc.Wait); err == nil {
				version = ac.Version
				raw, err = json.Marshal(ac)
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				rc.Logger.Warn("configuration fetch failed", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Second):
				}
			}
			continue
		}
		if version != since {
			since = version
			rc.OnConfig(ctx, raw)
		}
	}
}

// RenewFiles gets a certificate for a fresh key, writes it and the key into the identity directory
// (atomically, each file) and uses it from the next connection on.
func (c *Client) RenewFiles(ctx context.Context) error {
	if c.dir == "" {
		return errors.New("renew: the client was not loaded from a link file")
	}
	key := configserver.NewKey()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return err
	}
	ans, err := c.Renew(ctx, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	if err != nil {
		return err
	}
	chain := []byte(ans.CertificatePEM + ans.CAPEM)
	keyPEM, err := configserver.KeyPEM(key)
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(chain, keyPEM)
	if err != nil {
		return fmt.Errorf("renewed certificate: %w", err)
	}
	// Key first: a crash between the two writes leaves a key without its certificate, which the
	// next start reports; the configuration server has already voided the old certificate anyway.
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(c.dir, p)
	}
	if err := privfile.Write(abs(c.link.Key), keyPEM); err != nil {
		return err
	}
	if err := privfile.Write(abs(c.link.Cert), chain); err != nil {
		return err
	}
	c.cert.Store(&cert)
	c.http.CloseIdleConnections()
	return nil
}
