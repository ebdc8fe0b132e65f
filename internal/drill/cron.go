package drill

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed cron expression (docs/recovery-plans.md, "Drills"): five fields, minute
// hour day-of-month month day-of-week, each `*`, a number, a range `a-b`, a list `a,b`, and a
// step `*/n` or `a-b/n`; months and week days may be named (jan..dec, sun..sat; 7 is Sunday too).
// When both day fields are restricted, a day matches either (as cron does). The macros @hourly,
// @daily (@midnight), @weekly, @monthly and @yearly (@annually) stand for their expressions.
type Schedule struct {
	min, hour, dom, month, dow uint64 // bit i set: value i matches
	domStar, dowStar           bool
	expr                       string
}

type field struct {
	name     string
	min, max int
	names    []string // names[i] is value min+i
}

var (
	fMinute = field{name: "minute", min: 0, max: 59}
	fHour   = field{name: "hour", min: 0, max: 23}
	fDom    = field{name: "day of month", min: 1, max: 31}
	fMonth  = field{name: "month", min: 1, max: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}}
	fDow    = field{name: "day of week", min: 0, max: 7, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}}
)

var macros = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
	"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

// ParseCron parses a cron expression. Errors name the expression and the bad field.
func ParseCron(expr string) (*Schedule, error) {
	e := strings.TrimSpace(expr)
	if m, ok := macros[strings.ToLower(e)]; ok {
		e = m
	}
	fs := strings.Fields(e)
	if len(fs) != 5 {
		return nil, fmt.Errorf("cron %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", expr, len(fs))
	}
	s := &Schedule{expr: expr}
	var err error
	for i, f := range []struct {
		def *field
		dst *uint64
	}{{&fMinute, &s.min}, {&fHour, &s.hour}, {&fDom, &s.dom}, {&fMonth, &s.month}, {&fDow, &s.dow}} {
		if *f.dst, err = parseField(fs[i], f.def); err != nil {
			return nil, fmt.Errorf("cron %q: %w", expr, err)
		}
	}
	if s.dow&(1<<7) != 0 { // 7 is Sunday
		s.dow = s.dow&^(1<<7) | 1
	}
	s.domStar = strings.HasPrefix(fs[2], "*")
	s.dowStar = strings.HasPrefix(fs[4], "*")
	if s.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("cron %q never fires", expr)
	}
	return s, nil
}

// String returns the expression as given.
func (s *Schedule) String() string { return s.expr }

func parseField(text string, f *field) (uint64, error) {
	var set uint64
	for _, part := range strings.Split(text, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 || n > f.max {
				return 0, fmt.Errorf("%s: step %q must be a number from 1 to %d", f.name, stepText, f.max)
			}
			step = n
		}
		lo, hi := f.min, f.max
		if f == &fDow {
			hi = 6 // * means sun..sat once
		}
		switch {
		case rng == "*":
		case rng == "":
			return 0, fmt.Errorf("%s: empty value in %q", f.name, text)
		default:
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = f.value(a); err != nil {
				return 0, err
			}
			hi = lo
			if isRange {
				if hi, err = f.value(b); err != nil {
					return 0, err
				}
				if hi < lo {
					return 0, fmt.Errorf("%s: range %q goes backwards", f.name, rng)
				}
			} else if hasStep {
				hi = f.max // a/n means a-max/n
				if f == &fDow {
					hi = 6
				}
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

func (f *field) value(s string) (int, error) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.min + i, nil
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number", f.name, s)
	}
	if n < f.min || n > f.max {
		return 0, fmt.Errorf("%s: %d is out of range %d-%d", f.name, n, f.min, f.max)
	}
	return n, nil
}

func (s *Schedule) dayMatches(t time.Time) bool {
	dom := s.dom&(1<<t.Day()) != 0
	dow := s.dow&(1<<int(t.Weekday())) != 0
	if s.domStar || s.dowStar {
		return dom && dow
	}
	return dom || dow
}

// Next returns the first instant after t (to the minute, in t's location) that the schedule
// matches, or the zero time when there is none within 5 years.
func (s *Schedule) Next(t time.Time) time.Time {
	loc := t.Location()
	t = t.Truncate(time.Minute).Add(time.Minute)
	limit := t.AddDate(5, 0, 0)
	// to moves t forward to next; around a daylight-saving change a wall time can map back to
	// an earlier instant, and then t moves one minute.
	to := func(next time.Time) time.Time {
		if !next.After(t) {
			return t.Add(time.Minute)
		}
		return next
	}
	for t.Before(limit) {
		if s.month&(1<<int(t.Month())) == 0 {
			t = to(time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc))
			continue
		}
		if !s.dayMatches(t) {
			t = to(time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc))
			continue
		}
		if s.hour&(1<<t.Hour()) == 0 {
			t = to(time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc))
			continue
		}
		if s.min&(1<<t.Minute()) == 0 {
			// Jump to the next matching minute of this hour, if any.
			rest := s.min >> (t.Minute() + 1) << (t.Minute() + 1)
			if rest == 0 {
				t = to(time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc))
			} else {
				t = to(time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), bits.TrailingZeros64(rest), 0, 0, loc))
			}
			continue
		}
		return t
	}
	return time.Time{}
}
