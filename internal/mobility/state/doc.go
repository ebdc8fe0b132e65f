// Package state keeps what the mobility service must remember across restarts, in its state
// directory: the replica map of each disk (the fingerprint of every 4 KiB block as the replica
// holds it at the agent's newest committed point) and the agent state (sequence numbers, the
// newest committed point, whether the service stopped cleanly). Every file is written atomically
// (temporary file, fsync, rename, fsync of the directory) and checked when read. The formats are
// in docs/formats/agent-state.md.
package state
