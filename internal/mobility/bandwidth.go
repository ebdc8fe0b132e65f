package mobility

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/opensiterecovery/osr/internal/clock"
)

// Bandwidth caps the bytes the agent sends, by a weekly schedule: the first window that contains
// the time gives the rate, else Default applies (like throttling work hours harder than nights).
type Bandwidth struct {
	Default Rate     `yaml:"default"`
	Windows []Window `yaml:"windows"`
	// TimeZone of the windows (an IANA name); default: the machine's local time.
	TimeZone string `yaml:"time_zone"`
	loc      *time.Location
}

// Window is a rate that applies on some days between two times of day.
type Window struct {
	Days []string `yaml:"days"` // mon, tue, …, sun; empty: every day
	From string   `yaml:"from"` // "08:00"
	To   string   `yaml:"to"`   // "18:00"; a To before From runs past midnight
	Rate Rate     `yaml:"rate"`

	days     [7]bool
	from, to int // minutes since midnight
}

var dayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

func parseClock(s string) (int, error) {
	var h, m int
	if n, err := fmt.Sscanf(s, "%d:%d", &h, &m); err != nil || n != 2 || len(s) != 5 || h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("bad time of day %q (want HH:MM)", s)
	}
	return h*60 + m, nil
}

func (b *Bandwidth) check() error {
	b.loc = time.Local
	if b.TimeZone != "" {
		loc, err := time.LoadLocation(b.TimeZone)
		if err != nil {
			return fmt.Errorf("bandwidth.time_zone: %w", err)
		}
		b.loc = loc
	}
	for i := range b.Windows {
		w := &b.Windows[i]
		if len(w.Days) == 0 {
			w.days = [7]bool{true, true, true, true, true, true, true}
		}
		for _, d := range w.Days {
			wd, ok := dayNames[strings.ToLower(d)]
			if !ok {
				return fmt.Errorf("bandwidth.windows[%d]: unknown day %q (want mon, tue, wed, thu, fri, sat or sun)", i, d)
			}
			w.days[wd] = true
		}
		var err error
		if w.from, err = parseClock(w.From); err != nil {
			return fmt.Errorf("bandwidth.windows[%d].from: %w", i, err)
		}
		if w.to, err = parseClock(w.To); err != nil {
			return fmt.Errorf("bandwidth.windows[%d].to: %w", i, err)
		}
		if w.from == w.to {
			return fmt.Errorf("bandwidth.windows[%d]: from and to are both %s", i, w.From)
		}
	}
	return nil
}

// RateAt returns the cap at t (0: unlimited).
func (b *Bandwidth) RateAt(t time.Time) Rate {
	if b.loc != nil {
		t = t.In(b.loc)
	}
	min := t.Hour()*60 + t.Minute()
	for _, w := range b.Windows {
		if w.from < w.to {
			if w.days[t.Weekday()] && min >= w.from && min < w.to {
				return w.Rate
			}
			continue
		}
		// Past midnight: the part after From belongs to today, the part before To to yesterday.
		if (w.days[t.Weekday()] && min >= w.from) || (w.days[(t.Weekday()+6)%7] && min < w.to) {
			return w.Rate
		}
	}
	return b.Default
}

// Limiter applies the schedule to bytes sent. It is safe for concurrent use.
type Limiter struct {
	sched *Bandwidth
	clock clock.Clock
	mu    sync.Mutex
	cur   Rate
	lim   *rate.Limiter
}

// NewLimiter returns a limiter following the schedule by the given clock.
func NewLimiter(b *Bandwidth, clk clock.Clock) *Limiter {
	l := &Limiter{sched: b, clock: clk, lim: rate.NewLimiter(rate.Inf, 0)}
	l.cur = -1
	l.update()
	return l
}

// update sets the limiter's rate from the schedule; it returns the current rate.
func (l *Limiter) update() Rate {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.sched.RateAt(l.clock.Now())
	if r != l.cur {
		l.cur = r
		if r == 0 {
			l.lim.SetLimit(rate.Inf)
		} else {
			// A burst of 1/8 s of traffic at least 1 MiB (a Blocks frame must fit).
			l.lim.SetBurst(max(int(r/8), 1<<20+64<<10))
			l.lim.SetLimit(rate.Limit(r))
		}
	}
	return r
}

// Current returns the rate in force now.
func (l *Limiter) Current() Rate { return l.update() }

// Wait blocks until n bytes may be sent.
func (l *Limiter) Wait(ctx context.Context, n int) error {
	if l.update() == 0 {
		return nil
	}
	for n > 0 {
		c := min(n, l.lim.Burst())
		if err := l.lim.WaitN(ctx, c); err != nil {
			return err
		}
		n -= c
	}
	return nil
}
