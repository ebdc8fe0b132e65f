// Package faultproxy is a TCP proxy for tests that breaks connections on command: it forwards
// every accepted connection to one target and can cut all of them at once (a reset on both
// sides), pause forwarding (data waits, connections stay open), refuse new connections, and
// delay every chunk by a fixed latency. It counts the bytes it forwarded each way, so a benchmark
// can read the bytes on the wire. It does not look into the stream (TLS passes through).
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are counters since the proxy started.
type Stats struct {
	Accepted int64 `json:"accepted"` // connections accepted and forwarded
	Refused  int64 `json:"refused"`  // connections closed at once because of Refuse, or the target was down
	Cut      int64 `json:"cut"`      // connections reset by Cut
	Open     int64 `json:"open"`     // connections open now
	Up       int64 `json:"up"`       // bytes client -> target
	Down     int64 `json:"down"`     // bytes target -> client
}

// Proxy forwards connections from its listener to a target. Its methods are safe for concurrent
// use.
type Proxy struct {
	ln     net.Listener
	target string
	log    *slog.Logger

	mu     sync.Mutex
	conns  map[*pair]struct{}
	paused bool
	resume chan struct{} // closed on Resume
	refuse bool
	delay  time.Duration
	closed bool
	wg     sync.WaitGroup

	accepted, refused, cut, up, down atomic.Int64
}

// Options configure a proxy.
type Options struct {
	Logger *slog.Logger // nil: discard
}

// New listens on listen (e.g. "127.0.0.1:0") and forwards to target.
func New(listen, target string, o Options) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("fault proxy: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p := &Proxy{ln: ln, target: target, log: o.Logger, conns: map[*pair]struct{}{}, resume: make(chan struct{})}
	close(p.resume)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address clients connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut resets every open connection (both sides) and returns how many it cut. New connections
// are accepted as before.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	var ps []*pair
	for c := range p.conns {
		ps = append(ps, c)
	}
	p.mu.Unlock()
	for _, c := range ps {
		c.reset()
	}
	p.cut.Add(int64(len(ps)))
	p.log.Info("fault proxy cut connections", "n", len(ps))
	return len(ps)
}

// Pause stops forwarding data: what arrives waits in the proxy (and then in the senders' socket
// buffers) until Resume. Connections stay open and new ones are accepted but not served.
func (p *Proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.paused {
		p.paused = true
		p.resume = make(chan struct{})
	}
}

// Resume ends a Pause.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		p.paused = false
		close(p.resume)
	}
}

// Refuse makes the proxy close new connections at once (on) or forward them again (off).
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
}

// SetDelay adds d of latency to every chunk forwarded, either way, from now on.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	open := int64(len(p.conns))
	p.mu.Unlock()
	return Stats{Accepted: p.accepted.Load(), Refused: p.refused.Load(), Cut: p.cut.Load(), Open: open,
		Up: p.up.Load(), Down: p.down.Load()}
}

// Close stops listening, resets every connection and waits for the proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.Resume()
	p.Cut()
	p.wg.Wait()
	return err
}

func (p *Proxy) gate() (<-chan struct{}, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resume, p.delay
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.log.Warn("fault proxy accept", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		refuse := p.refuse || p.closed
		p.mu.Unlock()
		if refuse {
			p.refused.Add(1)
			resetConn(c)
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	resume, _ := p.gate()
	<-resume
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		p.refused.Add(1)
		p.log.Info("fault proxy: target down", "err", err)
		resetConn(client)
		return
	}
	c := &pair{client: client, server: server}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.reset()
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	p.accepted.Add(1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(c, server, client, &p.up) }()
	go func() { defer wg.Done(); p.pipe(c, client, server, &p.down) }()
	wg.Wait()
	c.close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// chunk is data read at a time.
type chunk struct {
	at   time.Time
	data []byte
}

// pipe copies src to dst through a bounded queue, so that delay adds latency without cutting
// throughput, and Pause holds data.
func (p *Proxy) pipe(c *pair, dst, src net.Conn, count *atomic.Int64) {
	q := make(chan chunk, 64)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{at: time.Now(), data: buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for ch := range q {
		resume, delay := p.gate()
		<-resume
		if wait := time.Until(ch.at.Add(delay)); wait > 0 {
			time.Sleep(wait)
		}
		if _, err := dst.Write(ch.data); err != nil {
			c.reset()
			break
		}
		count.Add(int64(len(ch.data)))
	}
	for range q { // drain until the reader sees the close
	}
	// Half close: the peer sees EOF as the sender meant it.
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// pair is one proxied connection.
type pair struct {
	client, server net.Conn
	once           sync.Once
}

func (c *pair) reset() {
	c.once.Do(func() {
		resetConn(c.client)
		resetConn(c.server)
	})
}

func (c *pair) close() {
	c.once.Do(func() {
		c.client.Close()
		c.server.Close()
	})
}

// resetConn closes c with a TCP reset (linger 0), as a cut cable or a crashed peer looks.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
