package vcenter

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Endpoint is where and how to log in to a vCenter.
type Endpoint struct {
	Address     string
	Port        int
	User        string
	Password    string
	Thumbprint  string        // SHA-256 thumbprint the certificate must have; required
	Timeout     time.Duration // for the whole sync; default 2 minutes
	DialTimeout time.Duration // for the TCP connection and TLS handshake; default 10 s
}

// ErrLogin is wrapped by the error of a login that the vCenter refused.
var ErrLogin = errors.New("wrong user name or password")

// ErrThumbprint is wrapped when the vCenter presents a certificate other than the pinned one.
var ErrThumbprint = errors.New("certificate thumbprint does not match")

func hostPort(addr string, port int) string {
	if port == 0 {
		port = DefaultPort
	}
	return net.JoinHostPort(addr, strconv.Itoa(port))
}

// Thumbprint is the SHA-256 thumbprint of a certificate, as "AB:CD:...", the form vSphere shows.
func Thumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// NormalizeThumbprint accepts a SHA-256 thumbprint with or without colons, in either case, and
// returns it in the form Thumbprint writes.
func NormalizeThumbprint(s string) (string, error) {
	h := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if len(h) != 64 || strings.Trim(h, "0123456789ABCDEF") != "" {
		return "", fmt.Errorf("invalid thumbprint %q: want the 64 hex digits of a SHA-256 thumbprint", s)
	}
	var b strings.Builder
	for i := 0; i < 64; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String(), nil
}

// Probe connects to address:port and returns the thumbprint of the certificate it presents, without
// trusting or logging in. The operator compares it with the one vCenter shows before it is pinned.
func Probe(ctx context.Context, address string, port int, timeout time.Duration) (string, error) {
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: &tls.Config{InsecureSkipVerify: true}} // only to read the certificate
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hp := hostPort(address, port)
	c, err := d.DialContext(ctx, "tcp", hp)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", hp, unwrapDial(err))
	}
	defer c.Close()
	certs := c.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", fmt.Errorf("connect to %s: no certificate presented", hp)
	}
	return Thumbprint(certs[0]), nil
}

// unwrapURL drops the "Post https://...:" of the HTTP client: the address is said already.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

func unwrapDial(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// pinnedDial returns a TLS dialer that accepts exactly the certificate with thumbprint tp.
func pinnedDial(tp string, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	cfg := &tls.Config{
		InsecureSkipVerify: true, // replaced by the thumbprint check below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate presented")
			}
			if got := Thumbprint(cs.PeerCertificates[0]); got != tp {
				return fmt.Errorf("%w: presented %s, pinned %s", ErrThumbprint, got, tp)
			}
			return nil
		},
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: cfg}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, unwrapDial(err)
		}
		return c, nil
	}
}

// Session is a logged-in connection to a vCenter. Close logs out.
type Session struct {
	c     *vim25.Client
	m     *session.Manager
	about string
}

// Connect logs in to the vCenter of ep. Errors: ErrLogin for refused credentials, ErrThumbprint for
// a certificate other than the pinned one, the network error for an unreachable address.
func Connect(ctx context.Context, ep Endpoint) (*Session, error) {
	if ep.Thumbprint == "" {
		return nil, errors.New("no certificate thumbprint pinned")
	}
	if ep.DialTimeout == 0 {
		ep.DialTimeout = 10 * time.Second
	}
	hp := hostPort(ep.Address, ep.Port)
	u := &url.URL{Scheme: "https", Host: hp, Path: "/sdk"}
	sc := soap.NewClient(u, true)
	t := sc.DefaultTransport()
	t.DialTLSContext = pinnedDial(ep.Thumbprint, ep.DialTimeout)
	t.Proxy = nil // vCenter is on the source site's own network
	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", hp, unwrapURL(err))
	}
	m := session.NewManager(c)
	if err := m.Login(ctx, url.UserPassword(ep.User, ep.Password)); err != nil {
		if isInvalidLogin(err) {
			return nil, fmt.Errorf("log in to %s as %s: %w", hp, ep.User, ErrLogin)
		}
		return nil, fmt.Errorf("log in to %s as %s: %w", hp, ep.User, err)
	}
	about := c.ServiceContent.About.FullName
	return &Session{c: c, m: m, about: about}, nil
}

func isInvalidLogin(err error) bool {
	if !soap.IsSoapFault(err) {
		return false
	}
	_, ok := soap.ToSoapFault(err).VimFault().(types.InvalidLogin)
	return ok
}

// About is the product name and version the vCenter reports.
func (s *Session) About() string { return s.about }

// Close logs out.
func (s *Session) Close(ctx context.Context) error {
	return s.m.Logout(ctx)
}

// Client is the session's vSphere API client (for callers that need more than VMs).
func (s *Session) Client() *vim25.Client { return s.c }
