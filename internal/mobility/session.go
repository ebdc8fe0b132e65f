package mobility

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opensiterecovery/osr/internal/mobility/tracker"
	"github.com/opensiterecovery/osr/internal/wire"
)

// Timeouts of a session (Options.IdleTimeout bounds the silence of an established one).
const (
	helloTimeout = 30 * time.Second
	drainTimeout = 10 * time.Second // at a clean stop, how long to wait for in-flight commits
)

// session is one connection to the process server.
type session struct {
	conn    net.Conn
	wc      *wire.Conn
	welcome wire.Welcome
	fps     chan wire.Fingerprints // answers to Fingerprints?, copied out of the read buffer
	dead    chan struct{}          // closed when the reader stops
	errMu   sync.Mutex
	err     error
	blocked atomic.Bool // the server reported it is not reading (Status other than ok)
}

func (s *session) fail(err error) {
	s.errMu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.errMu.Unlock()
	s.conn.Close()
}

func (s *session) failure() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// session runs one connection until it fails or ctx ends. connected tells whether the
// handshake got as far as Welcome.
func (a *Agent) session(ctx context.Context) (connected bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, helloTimeout)
	conn, err := a.opts.Dial(dctx)
	cancel()
	if err != nil {
		return false, fmt.Errorf("connect to %s: %w", a.cfg.ProcessServer, err)
	}
	s := &session{conn: conn, wc: wire.NewConn(conn, wire.Options{}), fps: make(chan wire.Fingerprints, 1), dead: make(chan struct{})}
	defer conn.Close()
	if err := wire.TuneTCP(conn, a.opts.IdleTimeout); err != nil {
		a.log.Debug("tcp options", "err", err)
	}
	if err := a.hello(s); err != nil {
		return false, err
	}
	a.mon.update(func(st *Status) { st.Connected = true })
	a.mon.event("connected", "info", "connected to the process server", "server", a.cfg.ProcessServer,
		"committed_seq", strconv.FormatUint(s.welcome.CommittedSeq, 10), "durable", strconv.FormatUint(s.welcome.Durable, 10))
	a.reconcile(s.welcome)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(s.dead)
		defer cancel()
		s.fail(a.read(s))
	}()
	go a.ping(sctx, s)
	err = a.loop(sctx, s)
	if ctx.Err() != nil { // a clean stop: give in-flight points a moment to be committed
		a.drain(s)
		return true, nil
	}
	if ferr := s.failure(); ferr != nil && (err == nil || errors.Is(err, context.Canceled) || errors.Is(err, net.ErrClosed)) {
		err = ferr
	}
	s.fail(err)
	<-s.dead
	return true, err
}

// hello does the handshake, Hello and Welcome.
func (a *Agent) hello(s *session) error {
	s.conn.SetDeadline(time.Now().Add(helloTimeout))
	if _, err := s.wc.Handshake(); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	a.stMu.Lock()
	h := wire.Hello{Machine: a.cfg.Machine, Disks: a.wireDisks(), CommittedSeq: a.st.CommittedSeq, CommittedPoint: a.st.PointID, Agent: "osr-mobility/1"}
	a.stMu.Unlock()
	if err := s.wc.Send(h); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	f, err := s.wc.ReadFrame()
	if err != nil {
		return fmt.Errorf("read welcome: %w", err)
	}
	switch f.Type {
	case wire.TypeWelcome:
		if err := s.welcome.Decode(f.Payload); err != nil {
			return err
		}
	case wire.TypeError:
		var e wire.Error
		if err := e.Decode(f.Payload); err != nil {
			return err
		}
		return &e
	default:
		return fmt.Errorf("expected Welcome, got %s", f.Type)
	}
	s.conn.SetDeadline(time.Time{})
	return nil
}

// reconcile compares what the agent knows with Welcome (docs/pipeline.md, the safety rule).
func (a *Agent) reconcile(w wire.Welcome) {
	a.psCommitted.Store(w.CommittedSeq)
	// Points the PS committed while we were away.
	if pts := a.rep.commit(w.CommittedSeq, w.CommittedPoint); len(pts) > 0 {
		a.committed(pts, w.CommittedPoint, time.Time{})
	}
	// Points it will not commit.
	if dropped := a.rep.drop(w.Durable); len(dropped) > 0 {
		for _, p := range dropped {
			for disk, b := range p.dirty {
				a.addCarry(disk, b)
			}
		}
		a.resetCursor()
		a.mon.event("points-dropped", "warning", "in-flight points the process server does not hold are dropped; their changes go into the next point",
			"count", strconv.Itoa(len(dropped)), "first_seq", strconv.FormatUint(dropped[0].seq, 10), "durable", strconv.FormatUint(w.Durable, 10))
		if !a.initialDone() {
			a.completeSent = false
		}
	}
	known := []uint64{a.rep.committedSeq()}
	for _, p := range a.rep.pending() {
		known = append(known, p.seq)
	}
	if !slices.Contains(known, w.CommittedSeq) {
		a.needResync(fmt.Sprintf("the replica map is for seq %d, the process server's newest committed point is seq %d", known[0], w.CommittedSeq))
	}
	if w.Durable > w.CommittedSeq && !slices.Contains(known, w.Durable) {
		a.needResync(fmt.Sprintf("the process server holds seq %d, which this agent does not know", w.Durable))
	}
	a.stMu.Lock()
	if a.st.NextSeq <= w.Durable { // never reuse a seq the PS has seen
		a.st.NextSeq = w.Durable + 1
	}
	a.stMu.Unlock()
}

// needResync asks for a resynchronisation before the next point; the first reason is kept.
func (a *Agent) needResync(reason string) {
	a.stMu.Lock()
	if a.resyncReason == "" {
		a.resyncReason = reason
	}
	a.stMu.Unlock()
}

// takeResync returns and clears the pending resync reason.
func (a *Agent) takeResync() string {
	a.stMu.Lock()
	defer a.stMu.Unlock()
	r := a.resyncReason
	a.resyncReason = ""
	return r
}

func (r *replica) committedSeq() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.committedSeqLocked()
}

// addCarry keeps a dropped point's candidates for the next point; nil (all blocks) makes the
// next point compare every block.
func (a *Agent) addCarry(disk string, b *tracker.Bitmap) {
	if b == nil {
		a.forceAll = true
		return
	}
	if c := a.carry[disk]; c != nil {
		c.Or(b)
	} else {
		a.carry[disk] = b
	}
}

// resetCursor puts the initial replication position back to the newest point still in flight or
// committed.
func (a *Agent) resetCursor() {
	a.stMu.Lock()
	for _, d := range a.disks {
		a.cursor[d.name] = min(a.st.Initial[d.name], d.Size())
	}
	a.stMu.Unlock()
	for _, p := range a.rep.pending() {
		if p.cursor != nil {
			for d, c := range p.cursor {
				a.cursor[d] = c
			}
		}
	}
	a.updateInitialPercent()
}

// read handles the frames from the process server until an error.
func (a *Agent) read(s *session) error {
	for {
		// Also while the server is not reading (backpressure): it pings from its own writer.
		s.conn.SetReadDeadline(time.Now().Add(a.opts.IdleTimeout))
		f, err := s.wc.ReadFrame()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("read from process server: nothing arrived for %s: the connection is taken for dead", a.opts.IdleTimeout)
		}
		if err != nil {
			return fmt.Errorf("read from process server: %w", err)
		}
		switch f.Type {
		case wire.TypeDurable:
			var m wire.Durable
			if err := m.Decode(f.Payload); err != nil {
				return err
			}
			a.rep.markDurable(m.Seq)
			a.mon.event("durable", "debug", "point durable in the process server's cache", "seq", strconv.FormatUint(m.Seq, 10))
		case wire.TypeCommitted:
			var m wire.Committed
			if err := m.Decode(f.Payload); err != nil {
				return err
			}
			a.onCommitted(m)
		case wire.TypeFingerprints:
			var m wire.Fingerprints
			if err := m.Decode(f.Payload); err != nil {
				return err
			}
			m.Fingerprints = append([]byte(nil), m.Fingerprints...)
			select {
			case s.fps <- m:
			default:
				return errors.New("process server sent Fingerprints that were not asked for")
			}
		case wire.TypeStatus:
			var m wire.Status
			if err := m.Decode(f.Payload); err != nil {
				return err
			}
			s.blocked.Store(m.Reason != wire.StatusOK)
			a.mon.update(func(st *Status) { st.ServerStatus = m.Reason })
			if m.Reason != wire.StatusOK {
				a.mon.event("server-status", "warning", "process server is not reading: "+m.Reason, "message", m.Message)
			}
		case wire.TypePing:
			var m wire.Ping
			if err := m.Decode(f.Payload); err != nil {
				return err
			}
			go s.wc.Send(wire.Pong(m)) // a write may wait for backpressure; the reader must not
		case wire.TypePong:
		case wire.TypeError:
			var e wire.Error
			if err := e.Decode(f.Payload); err != nil {
				return err
			}
			return &e
		default:
			return fmt.Errorf("unexpected %s frame from the process server", f.Type)
		}
	}
}

func (a *Agent) ping(ctx context.Context, s *session) {
	t := time.NewTicker(a.opts.IdleTimeout / 4)
	defer t.Stop()
	for n := uint64(1); ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.wc.Send(wire.Ping{Nonce: n}); err != nil {
				s.fail(fmt.Errorf("send ping: %w", err))
				return
			}
		}
	}
}

// drain waits a little for in-flight points to be committed before a clean stop.
func (a *Agent) drain(s *session) {
	deadline := time.After(drainTimeout)
	for {
		pend := a.rep.pending()
		if len(pend) == 0 || !pend[len(pend)-1].ended {
			break
		}
		select {
		case <-a.rep.wait():
		case <-s.dead:
			return
		case <-deadline:
			a.mon.event("stop-with-points-in-flight", "warning", "stopping with points not yet committed; the next start resynchronises")
			s.conn.Close()
			<-s.dead
			return
		}
	}
	s.conn.Close()
	<-s.dead
}
