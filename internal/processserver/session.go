package processserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/wire"
)

// session is one agent connection.
type session struct {
	s    *Server
	conn net.Conn
	wc   *wire.Conn
	m    *machine
	log  *slog.Logger

	out      chan wire.Message
	closing  chan struct{}
	finished chan struct{}
	once     sync.Once

	open      *qpoint
	pc        pointCheck
	gateGen   uint64 // the gate closing this session was told of (0: open); guarded by gate.mu
	sinceSync int64
}

// maxMissedCommits bounds the Committed frames replayed after a Welcome.
const maxMissedCommits = 64

// sessionError is sent to the agent as an Error frame before the connection closes.
type sessionError struct {
	code string
	err  error
}

func (e *sessionError) Error() string { return e.err.Error() }
func (e *sessionError) Unwrap() error { return e.err }

func protoErr(format string, args ...any) error {
	return &sessionError{wire.ErrCodeProtocol, fmt.Errorf(format, args...)}
}

// handle runs one connection to its end.
func (s *Server) handle(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	log := s.log.With("remote", nc.RemoteAddr().String())
	if err := wire.TuneTCP(nc, s.cfg.IdleTimeout); err != nil {
		log.Debug("tcp options", "err", err)
	}
	nc.SetDeadline(s.clock.Now().Add(HandshakeTimeout))
	tc := tls.Server(wire.NewStreamConn(nc), s.tlsConf)
	if err := tc.HandshakeContext(ctx); err != nil {
		log.Warn("refused connection", "err", err)
		s.met.refused.WithLabelValues("tls").Inc()
		return
	}
	_, name, err := pki.PeerHolder(tc.ConnectionState())
	if err != nil {
		log.Warn("refused connection", "err", err)
		s.met.refused.WithLabelValues("tls").Inc()
		return
	}
	log = log.With("agent", name)
	wc := wire.NewConn(tc, wire.Options{MaxPayload: MaxFrameBytes})
	if _, err := wc.Handshake(); err != nil {
		log.Warn("refused connection", "err", err)
		s.met.refused.WithLabelValues("handshake").Inc()
		return
	}
	f, err := wc.ReadFrame()
	if err != nil {
		log.Warn("refused connection", "err", err)
		return
	}
	var hello wire.Hello
	if f.Type != wire.TypeHello {
		err = fmt.Errorf("first frame is %s, not Hello", f.Type)
	} else if err = hello.Decode(f.Payload); err == nil && hello.Machine != name {
		err = &sessionError{wire.ErrCodeAuth, fmt.Errorf("hello names machine %s but the certificate is for %s", hello.Machine, name)}
	}
	if err != nil {
		log.Warn("refused connection", "err", err)
		s.met.refused.WithLabelValues("hello").Inc()
		code := wire.ErrCodeProtocol
		var se *sessionError
		if errors.As(err, &se) {
			code = se.code
		}
		wc.Send(wire.Error{Code: code, Message: err.Error()})
		return
	}
	m, err := s.machine(ctx, name)
	if err == nil {
		err = m.catchUp(ctx, hello.CommittedSeq) // committed elsewhere meanwhile (catchup.go)
	}
	if err != nil {
		log.Error("load machine", "err", err)
		wc.Send(wire.Error{Code: wire.ErrCodeInternal, Message: err.Error()})
		return
	}
	nc.SetDeadline(time.Time{})
	ss := &session{s: s, conn: nc, wc: wc, m: m, log: log, out: make(chan wire.Message, 256),
		closing: make(chan struct{}), finished: make(chan struct{})}
	defer close(ss.finished)
	ss.run(ctx, hello)
}

// attach makes ss the machine's session, ending an older one, and welcomes the agent.
func (ss *session) attach(hello wire.Hello) {
	m := ss.m
	m.mu.Lock()
	old := m.sess
	m.sess = ss
	m.mu.Unlock()
	if old != nil {
		ss.log.Info("a newer connection replaces the older one")
		old.close()
		<-old.finished
	}
	m.mu.Lock()
	// Points that were arriving on older connections will never complete.
	var stale []*qpoint
	for _, q := range m.queue {
		if !q.durable.Load() {
			stale = append(stale, q)
		}
	}
	m.mu.Unlock()
	for _, q := range stale {
		m.drop(q, errors.New("connection replaced before the point ended"))
	}
	m.mu.Lock()
	w := wire.Welcome{CommittedSeq: m.newest, CommittedPoint: m.committed[m.newest], Durable: m.durableSeq(), Server: ss.s.name}
	var missed []uint64
	for seq := range m.committed {
		if seq > hello.CommittedSeq {
			missed = append(missed, seq)
		}
	}
	ids := make(map[uint64]string, len(missed))
	for _, seq := range missed {
		ids[seq] = m.committed[seq]
	}
	m.mu.Unlock()
	sort.Slice(missed, func(i, j int) bool { return missed[i] < missed[j] })
	if len(missed) > maxMissedCommits { // an agent that lost its state needs only the newest
		missed = missed[len(missed)-maxMissedCommits:]
	}
	ss.post(w)
	for _, seq := range missed {
		ss.post(wire.Committed{Seq: seq, Point: ids[seq], Time: ss.s.clock.Now().UTC()})
	}
	ss.log.Info("agent connected", "committed", w.CommittedSeq, "durable", w.Durable, "agent_committed", hello.CommittedSeq)
}

// post queues a message for the writer; a session that cannot keep up is closed.
func (ss *session) post(msg wire.Message) {
	select {
	case ss.out <- msg:
	case <-ss.closing:
	default:
		ss.log.Warn("agent does not read its messages: closing")
		ss.close()
	}
}

func (ss *session) close() {
	ss.once.Do(func() {
		close(ss.closing)
		ss.conn.Close()
	})
}

func (ss *session) writer() {
	idle := ss.s.cfg.IdleTimeout
	ping := time.NewTicker(idle / 4)
	defer ping.Stop()
	var nonce uint64
	for {
		var msg wire.Message
		select {
		case msg = <-ss.out:
		case <-ping.C:
			nonce++
			msg = wire.Ping{Nonce: nonce}
		case <-ss.closing:
			return
		}
		ss.conn.SetWriteDeadline(time.Now().Add(idle))
		if err := ss.wc.Send(msg); err != nil {
			ss.close()
			return
		}
	}
}

func (ss *session) run(ctx context.Context, hello wire.Hello) {
	ss.s.met.connected.Inc()
	defer ss.s.met.connected.Dec()
	go ss.writer()
	stop := context.AfterFunc(ctx, ss.close)
	defer stop()
	ss.attach(hello)
	err := ss.loop(ctx)
	if ss.open != nil {
		ss.m.drop(ss.open, fmt.Errorf("connection ended before EndPoint: %v", err))
		ss.open.sp.Close()
		ss.open = nil
	}
	var se *sessionError
	if errors.As(err, &se) {
		ss.log.Warn("closing connection", "err", err)
		ss.wc.Send(wire.Error{Code: se.code, Message: se.Error()})
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		ss.log.Warn("agent connection silent: closing it as dead", "idle", ss.s.cfg.IdleTimeout.String(), "err", err)
	} else if err != nil && !isClosed(err) {
		ss.log.Warn("connection failed", "err", err)
	} else {
		ss.log.Info("agent disconnected")
	}
	ss.m.mu.Lock()
	if ss.m.sess == ss {
		ss.m.sess = nil
	}
	ss.m.mu.Unlock()
	ss.close()
}

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) || err.Error() == "EOF"
}

func (ss *session) loop(ctx context.Context) error {
	for {
		if err := ss.s.gate.pass(ctx, ss); err != nil {
			return err
		}
		ss.conn.SetReadDeadline(time.Now().Add(ss.s.cfg.IdleTimeout))
		f, err := ss.wc.ReadFrame()
		if err != nil {
			if errors.Is(err, wire.ErrChecksum) {
				ss.s.met.refused.WithLabelValues("checksum").Inc()
				ss.log.Error("refused frame", "err", err)
			}
			return err
		}
		if err := ss.frame(ctx, f); err != nil {
			return err
		}
	}
}

func (ss *session) frame(ctx context.Context, f wire.Frame) error {
	switch f.Type {
	case wire.TypeBeginPoint:
		return ss.begin(f)
	case wire.TypeBlocks, wire.TypeZero, wire.TypeEndPoint:
		if ss.open == nil {
			return protoErr("%s frame outside a point", f.Type)
		}
		if err := ss.pc.add(f); err != nil {
			if errors.Is(err, wire.ErrFingerprint) {
				ss.s.met.refused.WithLabelValues("fingerprint").Inc()
				return &sessionError{wire.ErrCodeChecksum, err}
			}
			return &sessionError{wire.ErrCodeProtocol, err}
		}
		if err := ss.appendFrame(f); err != nil {
			return err
		}
		if f.Type == wire.TypeEndPoint {
			return ss.end()
		}
		return nil
	case wire.TypeFingerprintsRequest:
		var req wire.FingerprintsRequest
		if err := req.Decode(f.Payload); err != nil {
			return &sessionError{wire.ErrCodeProtocol, err}
		}
		return ss.fingerprints(ctx, req)
	case wire.TypePing:
		var p wire.Ping
		if err := p.Decode(f.Payload); err != nil {
			return &sessionError{wire.ErrCodeProtocol, err}
		}
		ss.post(wire.Pong(p))
		return nil
	case wire.TypePong:
		return nil
	case wire.TypeError:
		var e wire.Error
		if err := e.Decode(f.Payload); err != nil {
			return &sessionError{wire.ErrCodeProtocol, err}
		}
		return &e
	}
	return protoErr("unexpected %s frame", f.Type)
}
