// Package tracker tells the mobility service which blocks of its protected disks may have changed.
//
// A tracker reports, per disk and per call, a dirty bitmap (one bit per 4 KiB block) that is a
// superset of the blocks written since the previous call for that disk, or a gap: a time it could
// not track (a start after an unclean stop, dropped events, a restarted probe). A gap forces the
// caller to compare every block by fingerprint with the replica.
//
// The scan tracker, which works on any file or device on any OS, knows nothing about writes: every
// block is always a candidate, and the caller finds the changed ones by hashing each block and
// comparing with its replica map. Other trackers (a block-layer write tracker) plug in behind the
// same interface.
package tracker
