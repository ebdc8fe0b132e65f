// Package e2e holds the end-to-end suites of the replication pipeline. They run the built osr
// binary as users do (osr pki, osr process-server serve, osr mobility serve, osr store), against
// real components: loop devices with ext4 as the protected disks (root is needed), a file:// or
// S3 (versitygw) vault store, TLS on loopback sockets, and a fault proxy between agent and
// process server. A workload (tools/workload) writes fsynced files while the agent protects the
// disks; each recovery point is exported, checked with fsck.ext4 -n -f, mounted read-only and
// verified against the workload's manifest at the point's capture time.
//
// The suites:
//   - TestEndToEnd: several points of one disk, each exported, fsck-clean and verified.
//   - TestTwoDisks: two disks of one machine show one instant in every point.
//   - TestKillAgent, TestKillProcessServer: kill -9 at random moments; replication resumes, no
//     committed point is lost, RPO recovers, events say what happened.
//   - TestConnectionCut, TestCacheFull, TestStorageOutage: the data path breaks and heals.
//   - TestScaleOut: a configuration server with two process servers and five managed agents:
//     resync budget, switch and balance without resync, kill -9 of a process server with
//     automatic failover (BenchmarkScaleOutThroughput: 1 vs 2 process servers).
//
// The package has no non-test code besides this file and the fault proxy (faultproxy).
package e2e
