// Package mobility is the mobility service (the agent) that runs on every protected machine. It
// reads the machine's disks, learns from a tracker which blocks may have changed, captures points
// (initial replication in resumable partial points, then crash-consistent points under a brief
// filesystem freeze and app-consistent points with hook scripts), sends them to its process server
// over the data-path protocol (internal/wire), and keeps a replica map per disk: the fingerprint
// of every block as the replica holds it at the newest committed point. The map changes only when
// the process server reports a point committed; after an unclean stop, a tracking gap or a map
// that does not match the replica, the agent resynchronises by comparing fingerprints with the
// replica's. The contract with the process server is docs/pipeline.md; operation is described in
// docs/mobility.md.
package mobility
