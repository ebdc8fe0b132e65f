// Package capacity plans the source-site infrastructure before machines are protected.
//
// A Profiler measures, per disk, how many distinct 4 KiB blocks change in each sample interval
// (churn) using a mobility tracker, without replicating anything; it writes a profile document
// (docs/formats/capacity-profile.md). Decode reads such a document back with every field checked.
// Compute turns profiles into a plan: the number of process servers, their cache, the bandwidth the
// RPO needs and the time initial replication takes. Compute is pure: it reads nothing and keeps no
// state, so the CLI and the portal share it.
package capacity
