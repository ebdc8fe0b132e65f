package vaultlink

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrPin is wrapped when the vault does not present the pinned root CA.
var ErrPin = errors.New("the vault does not present the pinned root CA")

// PinnedTLS returns a client TLS 1.3 configuration that trusts no system roots: it accepts a vault
// only if a certificate of the presented chain has the SHA-256 caSHA256 (lowercase hex of the DER)
// and the leaf verifies against that certificate for the host of the connection.
func PinnedTLS(caSHA256 string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			var root *x509.Certificate
			for _, c := range cs.PeerCertificates {
				sum := sha256.Sum256(c.Raw)
				if hex.EncodeToString(sum[:]) == caSHA256 {
					root = c
				}
			}
			if root == nil || len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w (sha256 %s)", ErrPin, caSHA256)
			}
			pool := x509.NewCertPool()
			pool.AddCert(root)
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				DNSName:       cs.ServerName,
				Roots:         pool,
				Intermediates: inter,
				KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if err != nil {
				return fmt.Errorf("vault certificate does not verify against the pinned root CA: %w", err)
			}
			return nil
		},
	}
}

// RootTLS returns a client TLS 1.3 configuration that verifies the vault against root and presents
// cert (mutual TLS), for the calls after registration.
func RootTLS(root *x509.Certificate, cert tls.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{cert}}
}

// ParseProxy checks a --proxy value: empty (direct), or an http:// or https:// URL with a host.
func ParseProxy(s string) (*url.URL, error) {
	if s == "" {
		return nil, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("invalid proxy %q: want http://HOST:PORT or https://HOST:PORT", s)
	}
	return u, nil
}

// HTTPClient returns a client for the vault with the TLS configuration tc, through proxy (nil:
// direct; the environment's proxy variables are never used, the setting is explicit).
func HTTPClient(tc *tls.Config, proxy *url.URL, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:     tc,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        4,
		IdleConnTimeout:     90 * time.Second,
	}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// Redact returns u as text without its password, for messages and logs.
func Redact(u *url.URL) string {
	if u == nil {
		return "direct"
	}
	return u.Redacted()
}

// hostOf returns the host of a URL for messages.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return strings.TrimSuffix(u.Host, ":443")
}
