// Package recoveryplan keeps recovery plans and runs them. A plan is an ordered list of groups of
// protected machines of one vault; a run (failover, test failover, or the cleanup of a test
// failover) takes the groups in order and the machines of a group in parallel (bounded), runs a
// group's before and after scripts on the vault host, and stops at a group's manual pause steps
// until someone resumes the run. Every run is a vault job and records each step and each
// machine's outcome.
//
// The machine operations themselves are the failover service's (internal/failover); this package
// reaches them through the Failoverer interface. Plans and runs live in the vault database
// (migration 004). New builds a Service; API serves it through vault.Config.ExtraRoutes.
// docs/recovery-plans.md is the user's guide.
package recoveryplan
