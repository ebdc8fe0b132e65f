package vault

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

// failureLimiter slows down guessing: a client address with maxFailures failed sign-ins or
// registrations within window is refused (429) until the window has passed since its first
// counted failure. Successes do not reset the count.
type failureLimiter struct {
	clock       clock.Clock
	maxFailures int
	window      time.Duration

	mu   sync.Mutex
	byIP map[string]*failures
}

type failures struct {
	first time.Time
	n     int
}

func newFailureLimiter(c clock.Clock) *failureLimiter {
	return &failureLimiter{clock: c, maxFailures: 10, window: time.Minute, byIP: map[string]*failures{}}
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// check returns an error when ip is over its limit.
func (l *failureLimiter) check(ip string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.byIP[ip]
	now := l.clock.Now()
	if f == nil || now.Sub(f.first) >= l.window {
		delete(l.byIP, ip)
		return nil
	}
	if f.n >= l.maxFailures {
		wait := (f.first.Add(l.window).Sub(now) + time.Second - 1).Truncate(time.Second)
		return errf(http.StatusTooManyRequests, "too many failed attempts from %s: try again in %s", ip, wait)
	}
	return nil
}

// fail counts a failure of ip.
func (l *failureLimiter) fail(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	f := l.byIP[ip]
	if f == nil || now.Sub(f.first) >= l.window {
		f = &failures{first: now}
		l.byIP[ip] = f
	}
	f.n++
	if len(l.byIP) > 100000 { // bound memory under a spray of addresses: forget the oldest half
		for k, v := range l.byIP {
			if now.Sub(v.first) >= l.window/2 {
				delete(l.byIP, k)
			}
		}
	}
}

// guarded wraps a public handler whose 401/403/409/410 answers count as failures.
func (s *Service) guarded(h handlerFunc) handlerFunc {
	return func(ctx context.Context, r *http.Request) (int, any, error) {
		ip := remoteIP(r)
		if err := s.limiter.check(ip); err != nil {
			return 0, nil, err
		}
		st, body, err := h(ctx, r)
		if err != nil {
			switch StatusOf(err) {
			case http.StatusUnauthorized, http.StatusForbidden, http.StatusConflict, http.StatusGone:
				s.limiter.fail(ip)
			}
		}
		return st, body, err
	}
}
