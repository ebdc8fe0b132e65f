package configserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver/vaultlink"
)

// requestPoll is how long the vault holds a poll for requests: below the vault client's 30 s
// timeout.
const requestPoll = 20 * time.Second

// requestLoop follows the vault's requests by long poll and serves each new one in its own
// goroutine, bounded by the time the vault gives it; a request the vault stops listing (answered,
// timed out or cancelled there) is stopped here too.
func (s *Server) requestLoop(ctx context.Context) {
	var mu sync.Mutex
	running := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	defer func() {
		mu.Lock()
		for _, cancel := range running {
			cancel()
		}
		mu.Unlock()
		wg.Wait()
	}()
	backoff := time.Second
	for ctx.Err() == nil {
		mu.Lock()
		have := slices.Sorted(maps.Keys(running))
		mu.Unlock()
		reqs, err := s.fetchRequests(ctx, have)
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Logger.Debug("poll the vault's requests", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = time.Second
		open := map[string]bool{}
		mu.Lock()
		for _, r := range reqs {
			open[r.ID] = true
			if _, ok := running[r.ID]; ok {
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, time.Duration(max(r.TimeoutSeconds, 1))*time.Second)
			running[r.ID] = cancel
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer cancel()
				s.serveRequest(rctx, r)
			}()
		}
		for id, cancel := range running {
			if !open[id] {
				cancel()
				delete(running, id)
			}
		}
		mu.Unlock()
	}
}

// fetchRequests polls the vault's URLs in order.
func (s *Server) fetchRequests(ctx context.Context, have []string) ([]vaultlink.Request, error) {
	var err error
	for _, v := range s.vault {
		var reqs []vaultlink.Request
		if reqs, err = v.Requests(ctx, have, requestPoll); err == nil {
			return reqs, nil
		}
	}
	if err == nil {
		err = errors.New("no vault URL")
	}
	return nil, err
}

// serveRequest answers one request and reports the outcome to the vault.
func (s *Server) serveRequest(ctx context.Context, r vaultlink.Request) {
	log := s.cfg.Logger.With("request", r.ID, "kind", r.Kind, "machine", r.Machine)
	log.Info("vault request")
	var rep vaultlink.RequestReport
	switch r.Kind {
	case vaultlink.RequestFinalSync:
		rep = s.serveFinalSync(ctx, r)
	case vaultlink.RequestLatestReceived:
		rep = s.serveLatestReceived(ctx, r)
	default:
		rep = failed("request kind %q is not known to configuration server %s", r.Kind, s.reg.Name)
	}
	log.Info("vault request ended", "state", rep.State, "point", rep.PointID, "err", rep.Error)
	// The outcome is reported even when the request's time ran out (the vault then knows it
	// already, and says so with 409).
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for {
		err := s.reportRequest(rctx, r.ID, rep)
		var ae *vaultlink.APIError
		switch {
		case err == nil:
			return
		case errors.As(err, &ae) && ae.Status < 500:
			log.Warn("the vault refused the request's outcome", "err", err)
			return
		}
		select {
		case <-rctx.Done():
			log.Error("could not report the request's outcome to the vault", "err", err)
			return
		case <-time.After(2 * time.Second):
		}
	}
}

func (s *Server) reportRequest(ctx context.Context, id string, rep vaultlink.RequestReport) error {
	var err error
	for _, v := range s.vault {
		if err = v.ReportRequest(ctx, id, rep); err == nil {
			return nil
		}
		var ae *vaultlink.APIError
		if errors.As(err, &ae) && ae.Status < 500 {
			return err
		}
	}
	return err
}

func failed(format string, args ...any) vaultlink.RequestReport {
	return vaultlink.RequestReport{State: FinalSyncFailed, Error: fmt.Sprintf(format, args...)}
}

// serveFinalSync tells the machine's agent to take a final point and waits for its report.
func (s *Server) serveFinalSync(ctx context.Context, r vaultlink.Request) vaultlink.RequestReport {
	m := r.Machine
	if !s.registry.HasAgent(m) {
		return failed("machine %s has no mobility agent enrolled with configuration server %s", m, s.reg.Name)
	}
	if rep, bad := s.registry.reachable("agent", m, s.reg.Name); bad {
		return rep
	}
	o := FinalSyncOrder{ID: r.ID, Shutdown: r.Shutdown, TimeoutSeconds: max(r.TimeoutSeconds, 1)}
	s.registry.fsync.setOrder(m, &o)
	if err := s.registry.bump(); err != nil {
		s.registry.fsync.setOrder(m, nil)
		return failed("tell the agent of %s: %v", m, err)
	}
	defer func() {
		s.registry.fsync.setOrder(m, nil)
		if err := s.registry.bump(); err != nil {
			s.cfg.Logger.Warn("withdraw the final sync order", "machine", m, "err", err)
		}
	}()
	for {
		ch := s.registry.fsync.wait()
		if rep, ok := s.registry.fsync.report(m, r.ID); ok && rep.ended() {
			return vaultlink.RequestReport{State: rep.State, PointID: rep.PointID, Seq: rep.Seq, Error: rep.Error}
		}
		select {
		case <-ctx.Done():
			return failed("the mobility agent of %s did not end the final sync within %s", m, time.Duration(o.TimeoutSeconds)*time.Second)
		case <-ch:
		}
	}
}

// serveLatestReceived waits until the machine's process server has committed every point it had
// acknowledged when the request arrived, and answers with its newest committed point. "When the
// request arrived" is the first heartbeat that answers the request's health ask
// (finalsync_ask.go), or, from a process server that does not answer asks, the second heartbeat
// after the request: the first one may carry a health document read before. While it waits, it
// asks again every askEvery, so that the commit is seen within about that time of happening
// rather than at the next periodic heartbeat.
func (s *Server) serveLatestReceived(ctx context.Context, r vaultlink.Request) vaultlink.RequestReport {
	m := r.Machine
	ps, ok := s.registry.assigned(m)
	switch {
	case !ok:
		return failed("machine %s has no mobility agent enrolled with configuration server %s", m, s.reg.Name)
	case ps == "":
		return failed("machine %s has no process server assigned", m)
	}
	if rep, bad := s.registry.reachable("ps", ps, s.reg.Name); bad {
		return rep
	}
	n0, _, _ := s.registry.fsync.drain(ps, m)
	ask, err := s.registry.askHealth(ps)
	if err != nil { // the two-heartbeat rule still answers
		s.cfg.Logger.Warn("ask the process server for a heartbeat", "process_server", ps, "err", err)
	}
	asked := time.Now()
	tick := time.NewTicker(askEvery)
	defer tick.Stop()
	var target uint64
	haveTarget := false
	for {
		ch := s.registry.fsync.wait()
		n, d, listed := s.registry.fsync.drain(ps, m)
		if !haveTarget {
			td, tlisted, found := s.registry.fsync.answered(ps, m, ask)
			if !found && n >= n0+2 {
				td, tlisted, found = s.registry.fsync.drainAt(ps, m, n0+2)
			}
			if found {
				if !tlisted { // the process server has not seen the machine since it started: nothing in its cache
					return vaultlink.RequestReport{State: FinalSyncSucceeded}
				}
				target, haveTarget = td.DurableSeq, true
			}
		}
		if haveTarget && listed && d.CommittedSeq >= target {
			if d.CommittedPoint == "" {
				return vaultlink.RequestReport{State: FinalSyncSucceeded}
			}
			return vaultlink.RequestReport{State: FinalSyncSucceeded, PointID: d.CommittedPoint, Seq: d.CommittedSeq}
		}
		select {
		case <-ctx.Done():
			if !haveTarget {
				return failed("process server %s sent no heartbeat for the request within %s", ps, time.Duration(r.TimeoutSeconds)*time.Second)
			}
			return failed("process server %s did not commit seq %d of %s in time (committed %d)", ps, target, m, d.CommittedSeq)
		case <-ch:
		case <-tick.C:
			// Any answer to a later ask answers the first one too (its health is read later still).
			// A process server that never answered one is not asked on: an older osr, whose
			// asks would only wake every holder's configuration poll.
			if !s.registry.fsync.answers(ps) && time.Since(asked) > oldAfter {
				continue
			}
			if _, err := s.registry.askHealth(ps); err != nil {
				s.cfg.Logger.Warn("ask the process server for a heartbeat", "process_server", ps, "err", err)
			}
		}
	}
}

// askEvery is how often a latest-received request asks the process server for a heartbeat while
// it waits.
const askEvery = time.Second

// oldAfter is how long a process server that has never answered a health ask is asked before it
// is taken for one that does not know asks.
const oldAfter = 3 * time.Second

// reachable reports, as a failed request, an agent ("agent") or process server ("ps") whose
// heartbeats stopped.
func (r *Registry) reachable(kind, name, cs string) (vaultlink.RequestReport, bool) {
	r.mu.Lock()
	at := r.beats[kind+"/"+name].at
	r.mu.Unlock()
	what := "the mobility agent of " + name
	if kind == "ps" {
		what = "process server " + name
	}
	if at.IsZero() {
		return failed("%s has sent no heartbeat since configuration server %s started", what, cs), true
	}
	if age := r.clock.Now().Sub(at); age > LateAfter {
		return failed("%s is disconnected (no heartbeat for %s)", what, age.Truncate(time.Second)), true
	}
	return vaultlink.RequestReport{}, false
}

// assigned returns the process server machine's agent is assigned to; ok is false when no agent
// of machine is enrolled.
func (r *Registry) assigned(machine string) (ps string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.st.Agents {
		if a.Machine == machine {
			return a.ProcessServer, true
		}
	}
	return "", false
}

// bump makes holders fetch their configuration again (a final sync order came or went).
func (r *Registry) bump() error {
	return r.update(true, func(*state) error { return nil })
}
