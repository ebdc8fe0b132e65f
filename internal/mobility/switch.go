package mobility

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/pki"
)

// PSDialer dials the process server an agent replicates to and lets a running agent move to
// another one without a restart, as its configuration server decides (a switch, a balance, or an
// automatic move off a lost process server). Switch closes the live connection and wakes the
// agent's wait between reconnects; the agent then connects to the new process server as after
// any lost connection: it keeps its tracking and its points in flight, the new process server's
// Welcome says which of them are committed, and the changes of the others go into the next point.
// Nothing is resynchronised. The certificate files are read at every dial, so that a renewed
// certificate is used from the next connection on. It is safe for concurrent use.
type PSDialer struct {
	cfg    *Config
	redial chan struct{}

	mu     sync.Mutex
	addr   string
	name   string // TLS server name
	conn   net.Conn
	cancel context.CancelFunc // of the dial in progress, if any
}

// NewPSDialer returns a dialer of cfg's process server (Options.Dial, with Options.Redial set to
// its Redial channel).
func NewPSDialer(cfg *Config) (*PSDialer, error) {
	if _, err := loadAgentIdentity(cfg); err != nil {
		return nil, err
	}
	return &PSDialer{cfg: cfg, redial: make(chan struct{}, 1), addr: cfg.ProcessServer, name: cfg.TLS.ServerName}, nil
}

func loadAgentIdentity(cfg *Config) (*pki.Identity, error) {
	id, err := pki.LoadIdentity(cfg.TLS.Cert, cfg.TLS.Key, cfg.TLS.CA)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	if id.Role != pki.RoleAgent || id.Name != cfg.Machine {
		return nil, fmt.Errorf("tls: certificate %s is for %s %s, not agent %s", cfg.TLS.Cert, id.Role, id.Name, cfg.Machine)
	}
	return id, nil
}

// Dial opens a TLS 1.3 connection with mutual authentication to the current process server.
func (d *PSDialer) Dial(ctx context.Context) (net.Conn, error) {
	id, err := loadAgentIdentity(d.cfg)
	if err != nil {
		return nil, err
	}
	// A switch ends a dial in progress: the old process server may be unreachable without a
	// refusal (a cut link), and the agent would wait for the dial's timeout.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.mu.Lock()
	addr, name := d.addr, d.name
	d.cancel = cancel
	d.mu.Unlock()
	if name == "" {
		name, _, _ = net.SplitHostPort(addr)
	}
	td := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 15 * time.Second},
		Config: id.ClientConfig(name, pki.PeerCheck{Roles: []pki.Role{pki.RoleProcessServer}})}
	c, err := td.DialContext(ctx, "tcp", addr)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cancel = nil
	if err != nil {
		if d.addr != addr {
			return nil, fmt.Errorf("process server changed from %s to %s while connecting", addr, d.addr)
		}
		return nil, err
	}
	if d.addr != addr { // switched while dialling
		c.Close()
		return nil, fmt.Errorf("process server changed from %s to %s while connecting", addr, d.addr)
	}
	d.conn = c
	return c, nil
}

// Addr returns the process server the next connection goes to.
func (d *PSDialer) Addr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.addr
}

// Switch makes addr (host:port) the process server: the live connection, if any, is closed and
// the agent reconnects at once. The TLS server name is the configured one for the configured
// process server, else addr's host. It reports whether anything changed.
func (d *PSDialer) Switch(addr string) bool {
	d.mu.Lock()
	if addr == d.addr {
		d.mu.Unlock()
		return false
	}
	d.addr, d.name = addr, ""
	if addr == d.cfg.ProcessServer {
		d.name = d.cfg.TLS.ServerName
	}
	c := d.conn
	d.conn = nil
	if d.cancel != nil {
		d.cancel()
	}
	d.mu.Unlock()
	if c != nil {
		c.Close()
	}
	select {
	case d.redial <- struct{}{}:
	default:
	}
	return true
}

// Redial delivers after a Switch (Options.Redial).
func (d *PSDialer) Redial() <-chan struct{} { return d.redial }

// NoteProcessServer records in the status and the events that the agent now replicates to
// another process server (after a PSDialer Switch).
func (a *Agent) NoteProcessServer(addr, name string) {
	var old string
	a.mon.update(func(s *Status) { old, s.ProcessServer = s.ProcessServer, addr })
	a.mon.event("process-server-switched", "info", "the configuration server moved this machine to process server "+name+
		": reconnecting, keeping the tracking and the points in flight", "from", old, "to", addr, "name", name)
}
