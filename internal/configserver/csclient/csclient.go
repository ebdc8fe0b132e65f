// Package csclient is the client of the configuration server's API for enrolled process servers and
// mobility agents: heartbeats, configuration (long poll) and certificate renewal over mutual TLS,
// with the identity that enrollment wrote (config-server.yaml and its certificate files).
package csclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/enroll"
)

// Client talks to one configuration server as one holder. It is safe for concurrent use.
type Client struct {
	link configserver.Link
	dir  string // the identity directory, when loaded from a link file
	base string
	http *http.Client
	cert atomic.Pointer[tls.Certificate]
}

// Load reads a link file (config-server.yaml) and the certificate files it names.
func Load(path string) (*Client, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lp, err := configserver.ParseLink(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	l := *lp
	dir := filepath.Dir(path)
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	cert, err := tls.LoadX509KeyPair(abs(l.Cert), abs(l.Key))
	if err != nil {
		return nil, fmt.Errorf("%s: certificate: %w", path, err)
	}
	rootPEM, err := os.ReadFile(abs(l.CA))
	if err != nil {
		return nil, fmt.Errorf("%s: ca: %w", path, err)
	}
	roots, err := enroll.ParseCerts(rootPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: ca: %w", path, err)
	}
	c, err := New(l, roots[0], cert)
	if err != nil {
		return nil, err
	}
	c.dir = dir
	return c, nil
}

// New returns a client for link with the holder's certificate and the vault root.
func New(l configserver.Link, root *x509.Certificate, cert tls.Certificate) (*Client, error) {
	host, _, err := net.SplitHostPort(l.Address)
	if err != nil {
		return nil, fmt.Errorf("configuration server address %q: %w", l.Address, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	c := &Client{link: l, base: "https://" + l.Address}
	c.cert.Store(&cert)
	tc := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: host,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return c.cert.Load(), nil }}
	c.http = &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}
	return c, nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any, timeout time.Duration) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reach the configuration server: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = http.StatusText(resp.StatusCode)
		}
		return &enroll.APIError{Status: resp.StatusCode, Message: e.Error}
	}
	return json.Unmarshal(b, out)
}

// Heartbeat sends a process server's health (configserver.PSHealth) or an agent's report
// (configserver.AgentHeartbeat).
func (c *Client) Heartbeat(ctx context.Context, body any) (*configserver.HeartbeatAnswer, error) {
	var out configserver.HeartbeatAnswer
	if err := c.do(ctx, http.MethodPost, "/v1/heartbeat", body, &out, 30*time.Second); err != nil {
		return nil, err
	}
	return &out, nil
}

// AgentConfig fetches the agent's configuration; with wait > 0 it waits (long poll) until the
// version differs from since, or wait passes.
func (c *Client) AgentConfig(ctx context.Context, since int64, wait time.Duration) (*configserver.AgentConfig, error) {
	var out configserver.AgentConfig
	path := fmt.Sprintf("/v1/agent/config?since=%d&wait=%d", since, int(wait/time.Second))
	if err := c.do(ctx, http.MethodGet, path, nil, &out, wait+30*time.Second); err != nil {
		return nil, err
	}
	return &out, nil
}

// PSConfig fetches the process server's configuration, as AgentConfig does.
func (c *Client) PSConfig(ctx context.Context, since int64, wait time.Duration) (*configserver.PSConfig, error) {
	var out configserver.PSConfig
	path := fmt.Sprintf("/v1/process-server/config?since=%d&wait=%d", since, int(wait/time.Second))
	if err := c.do(ctx, http.MethodGet, path, nil, &out, wait+30*time.Second); err != nil {
		return nil, err
	}
	return &out, nil
}

// Renew asks for a new certificate for the public key of csrPEM; the old one stops working.
func (c *Client) Renew(ctx context.Context, csrPEM []byte) (*enroll.Answer, error) {
	var out enroll.Answer
	if err := c.do(ctx, http.MethodPost, "/v1/certificate", configserver.RenewRequest{CSRPEM: string(csrPEM)}, &out, 30*time.Second); err != nil {
		return nil, err
	}
	if out.CertificatePEM == "" {
		return nil, errors.New("the configuration server answered without a certificate")
	}
	return &out, nil
}
