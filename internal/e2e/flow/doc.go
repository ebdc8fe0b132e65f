// Package flow holds the end-to-end suites of the whole product on the built binary, as a user
// runs it (Linux, as root: loop devices with ext4):
//   - TestWholeFlow: osr up, a second configuration server registered with a key, an agent
//     registered with the passphrase, a policy, replication, a recovery point, the RPO alert, a
//     restart of osr up.
//   - TestFailoverFlow: network mapping and local targets (raw, vhd, qcow2) through the CLI; test
//     failovers checked with qemu-img (check, info, compare) against osr store export of the same
//     point while a live workload (tools/workload) writes and replication goes on; cleanup that
//     leaves nothing behind; bad input with exact errors that changes nothing; a planned failover
//     (--shutdown-source) verified at its point's capture time (fsck, mounted read-only, workload
//     verify); change of point, commit, migration complete; a boot check (osr plan test
//     --verify-boot) of a replicated bootable disk (internal/bootcheck/bootdisk). It logs the RTO
//     of every failover job and the boot check's wall time.
//
// The package has no non-test code besides this file.
package flow
