package mobility

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/directio"
	"github.com/opensiterecovery/osr/internal/freeze"
	"github.com/opensiterecovery/osr/internal/mobility/state"
	"github.com/opensiterecovery/osr/internal/mobility/tracker"
	"github.com/opensiterecovery/osr/internal/wire"
)

// Options are the agent's dependencies beyond its configuration; the zero value is production.
type Options struct {
	Clock  clock.Clock  // default clock.Real
	Logger *slog.Logger // default: discard
	// Tracker replaces the one the configuration names.
	Tracker tracker.Tracker
	// Dial opens the byte stream to the process server; default: TLS 1.3 with the configured
	// certificates. Tests wrap it to cut connections.
	Dial func(ctx context.Context) (net.Conn, error)
	// Observe is called synchronously for every event (tests).
	Observe func(Event)
	// MaxInFlight bounds the points sent but not committed; default 2.
	MaxInFlight int
	// IdleTimeout: a connection on which nothing arrived from the process server for this long
	// is taken for dead and dropped (default wire.DeadPeerTimeout, 60s). The agent pings every
	// IdleTimeout/4 and the process server pings on its own, also while it is not reading.
	IdleTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait between reconnects; default 1s and 60s.
	BackoffMin, BackoffMax time.Duration
	// Redial, when it delivers, ends the wait between reconnects at once (the process server
	// changed: PSDialer.Switch).
	Redial <-chan struct{}
	// NoSocket: do not serve status on the unix socket in the state directory.
	NoSocket bool
	// FreezeGuardian starts the guardian that thaws the filesystems if this process dies inside a
	// freeze (`osr mobility freeze-guard`, which runs freeze.RunGuardian); nil: the freeze journal
	// alone protects, when the agent starts again.
	FreezeGuardian func() *exec.Cmd
}

// freezeJournal, in the state directory, names the filesystems of a freeze in progress.
const freezeJournal = "freeze.journal"

// Agent is the mobility service of one machine.
type Agent struct {
	cfg     *Config
	opts    Options
	clock   clock.Clock
	log     *slog.Logger
	tracker tracker.Tracker
	guard   *freeze.Guard // journal and guardian of the freezes (thaw even if this process dies)
	disks   []*sourceDisk
	rep     *replica
	mon     *monitor
	lim     *Limiter

	stMu         sync.Mutex
	st           *state.Agent
	resyncReason string        // non-empty: resynchronise before the next point (under stMu)
	psCommitted  atomic.Uint64 // the process server's newest committed seq, as last heard
	// persistMu is held for writing across a freeze: commits that arrive meanwhile update the
	// maps in memory and set saveDeferred; the files are written after the thaw.
	persistMu    sync.RWMutex
	saveDeferred atomic.Bool

	// Owned by the session loop.
	resyncCount  string // the reason of the resync whose capture is next (to report)
	forceAll     bool   // compare every block at the next capture
	carry        map[string]*tracker.Bitmap
	cursor       map[string]int64 // initial replication position per disk (bytes)
	completeSent bool             // the first complete point was sent
	lastCapture  time.Time
	lastApp      time.Time
	nextVerify   time.Time
	noFreezeLog  bool
	readBuf      []byte // the comparisons' two read buffers (one comparison runs at a time)
	verifyReq    chan chan verifyReply
	triggerCh    chan struct{}
	commits      commitNotice      // complete points committed, for CaptureAndWait
	finalReq     chan finalSyncReq // planned failover's final syncs (finalsync.go)
}

// New opens the disks and the state directory. It fails on a configuration or disk error; it
// does not contact the process server.
func New(cfg *Config, opts Options) (*Agent, error) {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 2
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = wire.DeadPeerTimeout
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = time.Second
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = time.Minute
	}
	a := &Agent{cfg: cfg, opts: opts, clock: opts.Clock, log: opts.Logger.With("machine", cfg.Machine),
		carry: map[string]*tracker.Bitmap{}, cursor: map[string]int64{},
		verifyReq: make(chan chan verifyReply), finalReq: make(chan finalSyncReq), triggerCh: make(chan struct{}, 1), readBuf: directio.AlignedBuffer(2 << 20)}
	a.mon = &monitor{log: a.log, now: a.clock.Now, notify: opts.Observe}
	a.guard = freeze.NewGuard(filepath.Join(cfg.StateDir, freezeJournal), opts.FreezeGuardian, a.log)
	a.lim = NewLimiter(&cfg.Bandwidth, a.clock)
	if opts.Dial == nil {
		d, err := tlsDialer(cfg)
		if err != nil {
			return nil, err
		}
		a.opts.Dial = d
	}
	a.tracker = opts.Tracker
	if a.tracker == nil {
		t, fallback, err := chooseTracker(cfg, a.log)
		if err != nil {
			return nil, err
		}
		a.tracker = t
		if fallback != "" {
			a.mon.update(func(s *Status) { s.TrackerReason = "scan, because the ebpf tracker cannot run: " + fallback })
			a.mon.event("tracker-fallback", "info", "tracker auto: using scan: "+fallback, "reason", fallback)
		}
	}
	if a.tracker.Name() == "ebpf" && !cfg.crashIntervalSet && cfg.CrashConsistentInterval == DefaultCrashConsistentInterval {
		cfg.CrashConsistentInterval = EBPFCrashConsistentInterval
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	for _, d := range cfg.Disks {
		sd, err := openSource(d.Name, d.Path)
		if err != nil {
			a.Close()
			return nil, err
		}
		a.disks = append(a.disks, sd)
	}
	if err := a.loadState(); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// loadState reads the agent state and the replica maps, and decides whether a resync is due.
func (a *Agent) loadState() error {
	st, err := state.LoadAgent(a.cfg.StateDir)
	fresh := false
	switch {
	case errors.Is(err, os.ErrNotExist):
		st, fresh = &state.Agent{Machine: a.cfg.Machine, NextSeq: 1}, true
	case err != nil:
		a.log.Error("agent state unreadable: starting over with a resync", "err", err)
		st = &state.Agent{Machine: a.cfg.Machine, NextSeq: 1}
		a.resyncReason = "the agent state was unreadable"
	case st.Machine != a.cfg.Machine:
		return fmt.Errorf("state directory %s belongs to machine %s, not %s", a.cfg.StateDir, st.Machine, a.cfg.Machine)
	case st.Running:
		a.resyncReason = "the previous run stopped uncleanly"
	}
	maps := map[string]*state.Map{}
	for _, d := range a.disks {
		m, err := state.LoadMap(a.cfg.StateDir, d.name)
		switch {
		case err == nil && m.Size == d.Size() && m.Seq == st.CommittedSeq:
		case errors.Is(err, os.ErrNotExist) && fresh:
			m = state.NewMap(d.name, d.Size())
		default:
			why := fmt.Sprintf("the replica map of disk %s is missing or damaged", d.name)
			if err == nil && m.Size != d.Size() {
				why = fmt.Sprintf("disk %s changed size from %d to %d bytes", d.name, m.Size, d.Size())
			} else if err == nil {
				why = fmt.Sprintf("the replica map of disk %s is for seq %d, the agent state for seq %d", d.name, m.Seq, st.CommittedSeq)
			}
			if a.resyncReason == "" {
				a.resyncReason = why
			}
			m = state.NewMap(d.name, d.Size())
			m.Seq, m.PointID = st.CommittedSeq, st.PointID
		}
		maps[d.name] = m
	}
	a.rep = newReplica(maps)
	for _, d := range a.disks {
		a.cursor[d.name] = min(st.Initial[d.name], d.Size())
	}
	a.lastApp = st.LastAppConsistent
	a.st = st
	// Writes while the service was stopped were tracked by nobody: the first point after a start
	// compares every block with the (trusted) local map, unless the tracker kept tracking
	// meanwhile (resumeTracking, after the tracker starts).
	a.forceAll = true
	a.mon.update(func(s *Status) {
		s.Machine, s.State, s.ProcessServer, s.Tracker = a.cfg.Machine, StateStarting, a.cfg.ProcessServer, a.tracker.Name()
		s.CommittedSeq, s.PointID, s.CaptureTime = st.CommittedSeq, st.PointID, st.CaptureTime
	})
	a.updateInitialPercent()
	return nil
}

// Close releases the disks.
func (a *Agent) Close() error {
	for _, d := range a.disks {
		d.Close()
	}
	a.disks = nil
	return nil
}

// Status returns the current status.
func (a *Agent) Status() Status {
	a.mon.update(func(s *Status) {
		s.BacklogBytes = a.rep.backlog()
		s.InFlightPoints = len(a.rep.pending())
		s.TrackingBytes = a.rep.bytes() + a.tracker.StateBytes()
		var size int64
		for _, d := range a.disks {
			size += d.Size()
		}
		if size > 0 {
			s.TrackingPerGiB = int64(float64(s.TrackingBytes) / (float64(size) / (1 << 30)))
		}
		s.BandwidthCap = a.lim.Current().String()
		if c, ok := a.tracker.(tracker.Counter); ok {
			ts := c.Stats()
			s.TrackerDrops, s.TrackerMisses, s.TrackerGaps = ts.Drops, ts.Misses, ts.Gaps
		}
	})
	return a.mon.snapshot()
}

// StateBytes is the memory the replica maps take (4 MiB per GiB of disk), for sizing limits.
func (a *Agent) StateBytes() int64 { return a.rep.bytes() }

// Trigger asks for a capture now instead of at the next interval.
func (a *Agent) Trigger() {
	select {
	case a.triggerCh <- struct{}{}:
	default:
	}
}

// Run runs the service until ctx ends: it connects to the process server, replicates, and
// reconnects with backoff after any error; it returns only when ctx is done.
func (a *Agent) Run(ctx context.Context) error {
	a.stMu.Lock()
	a.st.Running = true
	err := state.SaveAgent(a.cfg.StateDir, a.st)
	a.stMu.Unlock()
	if err != nil {
		return fmt.Errorf("save agent state: %w", err)
	}
	disks := make([]tracker.Disk, len(a.disks))
	for i, d := range a.disks {
		disks[i] = tracker.Disk{Name: d.name, Path: d.path, Size: d.Size()}
	}
	// A run that died inside a freeze (kill -9) left its filesystems frozen, and every writer on
	// them hangs: thaw what the journal names before anything else.
	thawed, err := freeze.Recover(filepath.Join(a.cfg.StateDir, freezeJournal), a.log)
	if len(thawed) > 0 {
		a.mon.event("thawed-after-crash", "alert", "filesystems left frozen by an earlier run were thawed", "mounts", strings.Join(thawed, ","))
	}
	if err != nil {
		return fmt.Errorf("thaw what an earlier run left frozen: %w", err)
	}
	defer a.guard.Close()
	if a.replicationStopped() { // a final sync with shutdown stopped replication (finalsync.go)
		return a.idleStopped(ctx)
	}
	if err := a.tracker.Start(ctx, disks, a.resyncReason != ""); err != nil {
		return fmt.Errorf("start tracker %s: %w", a.tracker.Name(), err)
	}
	suspended := false
	defer func() {
		if !suspended {
			a.tracker.Close()
		}
	}()
	a.resumeTracking()
	if !a.opts.NoSocket {
		stop, err := a.serveSocket(ctx)
		if err != nil {
			return err
		}
		defer stop()
	}
	a.mon.event("started", "info", "mobility service started", "tracker", a.tracker.Name(), "disks", fmt.Sprint(len(a.disks)))
	backoff := a.opts.BackoffMin
	for ctx.Err() == nil {
		connected, err := a.session(ctx)
		if ctx.Err() != nil {
			break
		}
		if connected {
			backoff = a.opts.BackoffMin
		}
		if errors.Is(err, errFinalStop) {
			return a.idleStopped(ctx)
		}
		var pe *wire.Error
		if errors.As(err, &pe) && pe.Code == wire.ErrCodeSequence {
			// The server does not hold the base this agent built on: compare with what it holds.
			a.needResync("the process server refused a point: " + pe.Message)
		}
		a.mon.fail(err)
		a.mon.update(func(s *Status) { s.Connected, s.State = false, StateDisconnected })
		a.mon.event("disconnected", "warning", "session with the process server ended", "err", err.Error(), "retry_in", backoff.String())
		wait := backoff + time.Duration(rand.Int64N(int64(backoff)/4+1))
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		case <-a.opts.Redial:
			backoff = a.opts.BackoffMin / 2 // another process server: try it now, from the shortest wait
		}
		backoff = min(2*backoff, a.opts.BackoffMax)
	}
	suspended = a.suspendTracking()
	a.stMu.Lock()
	a.st.Running = false
	err = state.SaveAgent(a.cfg.StateDir, a.st)
	a.stMu.Unlock()
	a.mon.update(func(s *Status) { s.State, s.Connected = StateStopped, false })
	a.mon.event("stopped", "info", "mobility service stopped cleanly")
	return err
}

func (a *Agent) updateInitialPercent() {
	var done, total int64
	for _, d := range a.disks {
		done += a.cursor[d.name]
		total += d.Size()
	}
	pct := 100.0
	if total > 0 {
		pct = float64(done) * 100 / float64(total)
	}
	disks := make([]DiskStatus, len(a.disks))
	for i, d := range a.disks {
		disks[i] = DiskStatus{Name: d.name, Path: d.path, Size: d.Size(), InitialBytes: a.cursor[d.name]}
	}
	a.mon.update(func(s *Status) { s.InitialPercent, s.Disks = pct, disks })
}

func (a *Agent) initialDone() bool {
	a.stMu.Lock()
	defer a.stMu.Unlock()
	return a.st.InitialDone
}

// wireDisks lists the disks as the protocol names them.
func (a *Agent) wireDisks() []wire.Disk {
	out := make([]wire.Disk, len(a.disks))
	for i, d := range a.disks {
		out[i] = wire.Disk{Name: d.name, Size: d.Size()}
	}
	return out
}
