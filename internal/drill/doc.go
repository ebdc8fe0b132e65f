// Package drill runs disaster-recovery drills on a cron schedule: at each instant a drill of a
// recovery plan or of one machine runs a test failover (into the test network; replication goes
// on), optionally boots every failed-over machine with the boot check (internal/bootcheck), then
// cleans up, and keeps a report: the recovery point used, the RTO, the boot time, success and
// errors. The schedule is read with the injected clock (tests drive it with clock.Fake and
// Tick); each firing is claimed in the vault database so that one vault replica runs it.
// ParseCron reads the five-field cron expressions. docs/recovery-plans.md is the user's guide.
package drill
