package enroll

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/opensiterecovery/osr/internal/clock"
)

// Limits of failed enrollment proofs.
const (
	FailBurstPerHost = 5               // failures a client address may make in a row
	FailEveryPerHost = time.Minute     // then one more per minute
	FailBurstTotal   = 50              // failures from all addresses together
	FailEveryTotal   = 6 * time.Second // then ten a minute
	maxHosts         = 4096
)

// failLimiter counts failed proofs per client address and in total.
type failLimiter struct {
	mu    sync.Mutex
	clock clock.Clock
	hosts map[string]*rate.Limiter
	total *rate.Limiter
}

func newFailLimiter(c clock.Clock) *failLimiter {
	return &failLimiter{
		clock: c,
		hosts: map[string]*rate.Limiter{},
		total: rate.NewLimiter(rate.Every(FailEveryTotal), FailBurstTotal),
	}
}

// wait returns how long host must wait before its next attempt (0: it may try now).
func (f *failLimiter) wait(host string) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	var d time.Duration
	if l := f.hosts[host]; l != nil && l.TokensAt(now) < 1 {
		d = time.Duration((1 - l.TokensAt(now)) * float64(FailEveryPerHost))
	}
	if t := f.total.TokensAt(now); t < 1 {
		d = max(d, time.Duration((1-t)*float64(FailEveryTotal)))
	}
	return d
}

// fail records a failed proof from host.
func (f *failLimiter) fail(host string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	l := f.hosts[host]
	if l == nil {
		if len(f.hosts) >= maxHosts {
			for h, hl := range f.hosts { // forget hosts that are back to a full bucket
				if hl.TokensAt(now) >= FailBurstPerHost {
					delete(f.hosts, h)
				}
			}
		}
		l = rate.NewLimiter(rate.Every(FailEveryPerHost), FailBurstPerHost)
		f.hosts[host] = l
	}
	l.AllowN(now, 1)
	f.total.AllowN(now, 1)
}
