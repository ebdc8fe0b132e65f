// Package failover turns recovery points into machines on a failover target: test failover (into
// an isolated test network, replication goes on) and its cleanup, failover (unplanned, or planned
// with a final sync from the source), commit, change of recovery point before commit, and
// completion of a migration. It also keeps what those need in the vault's database: network
// mappings (source network → target and test network), per-NIC IP settings, and named failover
// targets (a provider and its settings, secrets sealed under the vault's master key).
//
// Every operation is a vault job with progress. Operations on one machine are serialised by a
// lock row with a lease: a vault service that dies mid-job leaves a lock that the next one takes
// over (failing the job), and a retry resumes the provider's work for the same run.
//
// A test failover or failover with verify_boot boots the machine from its new disks once they are
// written (Config.BootCheck, the boot check of internal/bootcheck; local targets only) and fails
// its job when the machine does not boot; the disks stay for inspection.
//
// New builds a Service on a *vault.Service; Routes gives its API endpoints, which are served by
// the vault through vault.Config.ExtraRoutes (see API for the two-step wiring). Providers come
// from one explicit registry (Config.Providers) built by the caller. docs/failover.md is the
// user's guide; docs/api/openapi.yaml documents the endpoints.
package failover
