package processserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/store"
)

// Deps are what a Server is built from.
type Deps struct {
	Repo     *store.Repo   // the replica store points are committed to
	Identity *pki.Identity // the server's certificate (role process-server) and trusted roots
	Logger   *slog.Logger  // default: discard
	Clock    clock.Clock   // default: clock.Real
}

// Server is a process server. Build it with New, then call Serve.
type Server struct {
	cfg     Config
	name    string
	repo    *store.Repo
	tlsConf *tls.Config
	log     *slog.Logger
	clock   clock.Clock
	cache   *cache
	gate    *gate
	met     *metrics
	workers chan struct{}

	ctx    context.Context // lives until Serve returns
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	machines map[string]*machine

	rates        rates
	cpu          cpuMeter
	lastErr      atomic.Value // string
	storageErrAt atomic.Int64 // unix nanos of the last storage error not followed by a success
}

// New checks cfg, opens the cache and replays it: complete points are queued for upload (which
// begins at once), the rest removed. Serve must follow: it also ends the uploads when it returns.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if deps.Repo == nil || deps.Identity == nil {
		return nil, errors.New("process server needs a store and an identity")
	}
	if deps.Identity.Role != pki.RoleProcessServer {
		return nil, fmt.Errorf("certificate is for role %s, not process-server", deps.Identity.Role)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Clock == nil {
		deps.Clock = clock.Real{}
	}
	comp, _ := store.ParseCompression(cfg.Store.Compression) // checked by Check
	deps.Repo.SetCompression(comp)
	c, err := openCache(cfg.Cache.Dir, cfg.Cache.MaxBytes, cfg.Cache.MemoryBytes)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, name: cfg.Name, repo: deps.Repo, log: deps.Logger, clock: deps.Clock, cache: c,
		workers: make(chan struct{}, cfg.UploadWorkers), machines: map[string]*machine{}}
	if s.name == "" {
		s.name = deps.Identity.Name
	}
	s.tlsConf = deps.Identity.ServerConfig(pki.PeerCheck{Roles: []pki.Role{pki.RoleAgent}})
	s.gate = newGate(s)
	s.met = newMetrics(s)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	found, err := c.scan(func(msg string, args ...any) { s.log.Warn(msg, args...) })
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("replay cache: %w", err)
	}
	for name, pts := range found {
		m, err := s.machine(s.ctx, name)
		if err != nil {
			s.cancel() // ends the uploaders started so far
			s.wakeAll()
			return nil, err
		}
		m.mu.Lock()
		for _, cp := range pts {
			if _, done := m.committed[cp.seq]; done || cp.seq <= m.newest {
				s.log.Info("cached point already committed", "machine", name, "seq", cp.seq)
				q := newQpoint(c.machineDir(name), cp.seq, cp.base, nil)
				q.remove()
				c.used.Add(-cp.size)
				continue
			}
			q := newQpoint(c.machineDir(name), cp.seq, cp.base, nil)
			q.size.Store(cp.size)
			q.durable.Store(true)
			q.markReady()
			m.enqueue(q)
			s.log.Info("replaying cached point", "machine", name, "seq", cp.seq, "bytes", cp.size)
		}
		m.mu.Unlock()
	}
	return s, nil
}

// machine returns the state of a machine, loading it from the store the first time.
func (s *Server) machine(ctx context.Context, name string) (*machine, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.machines[name]; ok {
		return m, nil
	}
	m := &machine{s: s, name: name}
	m.changed = sync.NewCond(&m.mu)
	if err := m.load(ctx); err != nil {
		return nil, err
	}
	s.machines[name] = m
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		m.uploader(s.ctx)
	}()
	return m, nil
}

// Serve accepts agents on ln until ctx ends, then closes ln, ends every session and upload, and
// returns nil. Cached points not yet committed stay in the cache for the next start.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.cancel()
	stopWake := context.AfterFunc(s.ctx, s.wakeAll)
	defer stopWake()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.gate.monitor(s.ctx)
	}()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	s.log.Info("process server listening", "addr", ln.Addr().String(), "name", s.name)
	var conns sync.WaitGroup
	var err error
	for {
		var nc net.Conn
		nc, err = ln.Accept()
		if err != nil {
			break
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			s.handle(s.ctx, nc)
		}()
	}
	s.cancel()
	conns.Wait()
	s.wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("accept: %w", err)
}

func (s *Server) wakeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.machines {
		m.mu.Lock()
		m.changed.Broadcast()
		m.mu.Unlock()
	}
}

// Listen opens the configured data-path address.
func (s *Server) Listen() (net.Listener, error) {
	return net.Listen("tcp", s.cfg.Listen)
}

func (s *Server) backlogBytes() int64 {
	var n int64
	for _, m := range s.machineList() {
		n += m.backlog()
	}
	return n
}

func (s *Server) machineList() []*machine {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*machine, 0, len(s.machines))
	for _, m := range s.machines {
		out = append(out, m)
	}
	return out
}

func (s *Server) noteStorageError(err error) {
	s.storageErrAt.Store(s.clock.Now().UnixNano())
	s.gate.recheck()
}

func (s *Server) noteStorageOK() {
	if s.storageErrAt.Swap(0) != 0 {
		s.gate.recheck()
	}
}

func (s *Server) storageDown() bool { return s.storageErrAt.Load() != 0 }

func (s *Server) lastErrText() string {
	if v, ok := s.lastErr.Load().(string); ok {
		return v
	}
	return ""
}
