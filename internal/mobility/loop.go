package mobility

import (
	"context"
	"time"

	"github.com/opensiterecovery/osr/internal/wire"
)

// nextCapture returns the kind of the next complete point and when it is due: crash-consistent
// every crash interval after the previous capture, app-consistent when the app interval has
// passed since the newest app-consistent point (or there is none yet).
func nextCapture(now, lastCapture, lastApp time.Time, crash, app time.Duration) (wire.Kind, time.Time) {
	at := now
	if !lastCapture.IsZero() {
		at = lastCapture.Add(crash)
	}
	if at.Before(now) {
		at = now
	}
	if lastApp.IsZero() || at.Sub(lastApp) >= app {
		return wire.KindApp, at
	}
	return wire.KindCrash, at
}

// loop replicates over one session until it fails or ctx ends.
func (a *Agent) loop(ctx context.Context, s *session) error {
	if a.cfg.VerifyInterval > 0 && a.nextVerify.IsZero() {
		a.nextVerify = a.clock.Now().Add(a.cfg.VerifyInterval)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if reason := a.takeResync(); reason != "" {
			if err := a.resync(ctx, s, reason); err != nil {
				a.needResync(reason)
				return err
			}
			continue
		}
		if !a.initialDone() && !a.completeSent {
			if !a.initialComplete() {
				if err := a.partial(ctx, s); err != nil {
					return err
				}
				continue
			}
			kind, _ := nextCapture(a.clock.Now(), time.Time{}, a.lastApp, a.cfg.CrashConsistentInterval, a.cfg.AppConsistentInterval)
			if err := a.capture(ctx, s, kind); err != nil {
				return err
			}
			continue
		}
		a.mon.update(func(st *Status) {
			if st.State == StateStarting || st.State == StateDisconnected {
				st.State = StateProtected
				if !a.initialDone() {
					st.State = StateInitialReplication
				}
			}
		})
		now := a.clock.Now()
		if a.cfg.VerifyInterval > 0 && !now.Before(a.nextVerify) {
			a.nextVerify = now.Add(a.cfg.VerifyInterval)
			if _, err := a.verify(ctx, s, true); err != nil {
				return err
			}
			continue
		}
		kind, at := nextCapture(now, a.lastCapture, a.lastApp, a.cfg.CrashConsistentInterval, a.cfg.AppConsistentInterval)
		if a.forceAll {
			at = now // a resync or a verify divergence: the point that repairs the replica comes now
		}
		wait := at.Sub(now)
		if a.cfg.VerifyInterval > 0 {
			wait = min(wait, a.nextVerify.Sub(now))
		}
		timer := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-s.dead:
			timer.Stop()
			return s.failure()
		case reply := <-a.verifyReq:
			timer.Stop()
			res, err := a.verify(ctx, s, true)
			reply <- verifyReply{res, err}
			if err != nil {
				return err
			}
			continue
		case req := <-a.finalReq:
			timer.Stop()
			if err := a.finalSync(ctx, s, req); err != nil {
				return err
			}
			continue
		case <-a.triggerCh:
			timer.Stop()
		case <-timer.C:
			if a.clock.Now().Before(at) {
				continue // a verify was due first, or the clock moved
			}
		}
		if now := a.clock.Now(); a.lastApp.IsZero() || now.Sub(a.lastApp) >= a.cfg.AppConsistentInterval {
			kind = wire.KindApp // due by now (a triggered capture comes early)
		}
		if err := a.capture(ctx, s, kind); err != nil {
			return err
		}
	}
}
