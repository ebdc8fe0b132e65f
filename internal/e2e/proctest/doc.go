// Package proctest runs the built osr binary in end-to-end tests: long-running processes with
// their output in log files printed when a test fails (Procs), polling with a bound (WaitFor), and
// building the binary once per test binary (Build). It is imported by tests only.
package proctest
