package prereq

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Status is the result of one check.
type Status int

// The results, from best to worst.
const (
	Pass Status = iota
	Warn
	Fail
)

func (s Status) String() string {
	switch s {
	case Pass:
		return "pass"
	case Warn:
		return "warn"
	default:
		return "fail"
	}
}

// MarshalText encodes the status as its name (for --json).
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Result is the outcome of one check. Fix is empty when there is nothing to do.
type Result struct {
	Check   string `json:"check"`
	Status  Status `json:"result"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// Report is the outcome of all checks, in the order they ran.
type Report []Result

// Failed reports whether any check failed.
func (r Report) Failed() bool {
	for _, c := range r {
		if c.Status == Fail {
			return true
		}
	}
	return false
}

// Get returns the result of the named check (ok false if it did not run).
func (r Report) Get(check string) (Result, bool) {
	for _, c := range r {
		if c.Check == check {
			return c, true
		}
	}
	return Result{}, false
}

// WriteTable prints the report as an aligned table.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT\tMESSAGE\tHOW TO FIX")
	for _, c := range r {
		fix := c.Fix
		if fix == "" {
			fix = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Check, c.Status, oneLine(c.Message), oneLine(fix))
	}
	return tw.Flush()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Check is one prerequisite check.
type Check struct {
	Name string
	Run  func(ctx context.Context) Result
}

// Run runs the checks in order and returns their report. A check's Name is filled into its result.
func Run(ctx context.Context, checks []Check) Report {
	out := make(Report, 0, len(checks))
	for _, c := range checks {
		r := c.Run(ctx)
		r.Check = c.Name
		out = append(out, r)
	}
	return out
}
