package retention

import (
	"errors"
	"fmt"
	"time"
)

// Default values used by DefaultPolicy and for zero fields of a Policy.
const (
	DefaultKeepAll  = 2 * time.Hour
	DefaultInterval = time.Hour
)

// Policy says how recovery points are thinned. A zero KeepAll or Interval means the default.
type Policy struct {
	KeepAll  time.Duration // keep every point newer than now-KeepAll (default 2h)
	Window   time.Duration // retention window: beyond now-Window only the always-kept points stay
	Interval time.Duration // between KeepAll and Window keep one point per Interval bucket (default 1h)
}

// DefaultPolicy returns the default policy for a retention window: every point of the last two
// hours, then one point per hour back to window.
func DefaultPolicy(window time.Duration) Policy {
	return Policy{KeepAll: DefaultKeepAll, Window: window, Interval: DefaultInterval}
}

// withDefaults returns p with zero KeepAll and Interval replaced by their defaults.
func (p Policy) withDefaults() Policy {
	if p.KeepAll == 0 {
		p.KeepAll = DefaultKeepAll
	}
	if p.Interval == 0 {
		p.Interval = DefaultInterval
	}
	return p
}

// Validate reports whether the policy can be applied. Zero KeepAll and Interval take their
// defaults before the checks.
func (p Policy) Validate() error {
	p = p.withDefaults()
	var errs []error
	if p.KeepAll < 0 {
		errs = append(errs, fmt.Errorf("retention: keep-all period must be positive, got %s", p.KeepAll))
	}
	if p.Interval < 0 {
		errs = append(errs, fmt.Errorf("retention: interval must be positive, got %s", p.Interval))
	}
	switch {
	case p.Window <= 0:
		errs = append(errs, fmt.Errorf("retention: window must be positive, got %s", p.Window))
	case p.KeepAll > 0 && p.Window < p.KeepAll:
		errs = append(errs, fmt.Errorf("retention: window %s is shorter than the keep-all period %s",
			p.Window, p.KeepAll))
	}
	return errors.Join(errs...)
}
