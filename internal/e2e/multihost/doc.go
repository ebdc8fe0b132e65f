// Package multihost is the multi-host fault suite: the built osr binary runs as a vault, a
// configuration server, two process servers and three source machines, each in a network
// namespace of its own (internal/e2e/netlab), with vault storage on an S3 server (versitygw) and
// the configuration server reaching the vault through a delaying proxy. A workload writes the
// source disks and remembers every write it had acknowledged; faults are injected (cut link, rate
// cap, packet loss, added delay, kill -9 of every component, storage outage, full cache disk), and
// after each phase the suite checks that every committed recovery point exports with every write
// acknowledged before its capture instant, that no committed point disappeared, that RPO came back
// under the policy's threshold, and which alerts were raised and cleared. The tests are in
// faults_test.go; they need root.
package multihost
