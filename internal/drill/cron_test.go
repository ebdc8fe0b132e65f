package drill

import (
	"testing"
	"time"
)

func TestCronNext(t *testing.T) {
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC) // a Tuesday
	for _, tc := range []struct {
		expr string
		from time.Time
		want string
	}{
		{"30 2 * * *", base, "2026-12-02T02:30:00Z"},
		{"*/15 * * * *", base.Add(time.Minute), "2026-12-01T10:15:00Z"},
		{"0 9-17/4 * * mon-fri", base, "2026-12-01T13:00:00Z"},
		{"0 3 * * sun", base, "2026-12-06T03:00:00Z"},
		{"0 3 * * 7", base, "2026-12-06T03:00:00Z"},
		{"0 0 1 jan *", base, "2027-01-01T00:00:00Z"},
		{"0 0 29 feb *", base, "2028-02-29T00:00:00Z"},
		{"0 12 15 * fri", base, "2026-12-04T12:00:00Z"}, // day of month or week: Friday 4th first
		{"@hourly", base, "2026-12-01T11:00:00Z"},
		{"@weekly", base, "2026-12-06T00:00:00Z"},
		{"5,10 10 * * *", base.Add(5 * time.Minute), "2026-12-01T10:10:00Z"},
		{"0 10 * * *", base, "2026-12-02T10:00:00Z"}, // strictly after
		{"10/20 * * * *", base, "2026-12-01T10:10:00Z"},
	} {
		s, err := ParseCron(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if got := s.Next(tc.from).Format(time.RFC3339); got != tc.want {
			t.Errorf("%s after %s = %s, want %s", tc.expr, tc.from.Format(time.RFC3339), got, tc.want)
		}
	}
	// In a time zone, across the spring-forward gap.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatalf("time zone data (apt-get install tzdata): %v", err)
	}
	s, _ := ParseCron("30 2 * * *")
	if got := s.Next(time.Date(2027, 3, 13, 12, 0, 0, 0, ny)); got.Format(time.RFC3339) != "2027-03-14T03:30:00-04:00" && got.Format(time.RFC3339) != "2027-03-15T02:30:00-04:00" {
		t.Errorf("across DST: %s", got.Format(time.RFC3339))
	}
	// Across the autumn fall-back every instant moves forward.
	s, _ = ParseCron("*/30 * * * *")
	at := time.Date(2027, 11, 6, 22, 0, 0, 0, ny)
	for i := 0; i < 20; i++ {
		n := s.Next(at)
		if !n.After(at) || n.Sub(at) > 2*time.Hour { // the repeated wall-clock hour does not fire twice
			t.Fatalf("fall-back: %s after %s", n, at)
		}
		at = n
	}
}

func TestCronErrors(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"* * * *", `cron "* * * *": want 5 fields (minute hour day-of-month month day-of-week), got 4`},
		{"61 * * * *", `cron "61 * * * *": minute: 61 is out of range 0-59`},
		{"0 24 * * *", `cron "0 24 * * *": hour: 24 is out of range 0-23`},
		{"0 0 0 * *", `cron "0 0 0 * *": day of month: 0 is out of range 1-31`},
		{"0 0 * foo *", `cron "0 0 * foo *": month: "foo" is not a number`},
		{"*/0 * * * *", `cron "*/0 * * * *": minute: step "0" must be a number from 1 to 59`},
		{"5-1 * * * *", `cron "5-1 * * * *": minute: range "5-1" goes backwards`},
		{"1,,2 * * * *", `cron "1,,2 * * * *": minute: empty value in "1,,2"`},
		{"0 0 31 feb *", `cron "0 0 31 feb *" never fires`},
		{"", `cron "": want 5 fields (minute hour day-of-month month day-of-week), got 0`},
	} {
		if _, err := ParseCron(tc.expr); err == nil || err.Error() != tc.want {
			t.Errorf("ParseCron(%q) = %v\nwant %s", tc.expr, err, tc.want)
		}
	}
}

// FuzzParseCron: any expression parses or errors without panicking; a parsed schedule's next
// instant is after the start, on a whole minute, and matches again from one minute before.
func FuzzParseCron(f *testing.F) {
	f.Add("30 2 * * *")
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := ParseCron(expr)
		if err != nil {
			return
		}
		from := time.Date(2026, 12, 1, 10, 7, 31, 0, time.UTC)
		n := s.Next(from)
		if n.IsZero() {
			t.Fatalf("%q parsed but never fires after %s", expr, from)
		}
		if !n.After(from) || n.Second() != 0 {
			t.Fatalf("%q: next %s after %s", expr, n, from)
		}
		if again := s.Next(n.Add(-time.Minute)); !again.Equal(n) {
			t.Fatalf("%q: next from a minute before %s is %s", expr, n, again)
		}
	})
}
