package recoveryplan

import (
	"context"
	"time"
)

// Failoverer runs the failover operations of single machines; the failover service implements
// it (an adapter binds internal/failover's Service). Each Start method validates and starts the
// operation as a vault job of its own and returns that job's ID; Wait follows the job.
type Failoverer interface {
	// TestFailover starts a test failover of machine at opts.Point into opts.Network (empty: the
	// test networks of the machine's network mappings) on opts.Target (empty: the vault's default
	// target). Replication of the machine goes on.
	TestFailover(ctx context.Context, vault, machine string, opts MachineOptions) (jobID string, err error)
	// Failover starts a failover of machine at opts.Point; with opts.ShutdownSource it is a
	// planned failover (the source stops and sends a last sync first).
	Failover(ctx context.Context, vault, machine string, opts MachineOptions) (jobID string, err error)
	// Cleanup starts the removal of everything a machine's test failover created.
	Cleanup(ctx context.Context, vault, machine string) (jobID string, err error)
	// Wait blocks until the job ends (or ctx ends) and returns its outcome; a failed job is
	// returned as an error with the job's message.
	Wait(ctx context.Context, jobID string) (*Outcome, error)
}

// MachineOptions are what a plan passes to each machine's operation.
type MachineOptions struct {
	// Point is latest, latest-processed, latest-app-consistent, a point ID, or an RFC 3339 time.
	Point          string `json:"point,omitempty"`
	Network        string `json:"network,omitempty"`
	Target         string `json:"target,omitempty"`
	ShutdownSource bool   `json:"shutdown_source,omitempty"`
}

// Outcome is what a machine's operation made.
type Outcome struct {
	PointID   string    `json:"point_id,omitempty"`
	PointTime time.Time `json:"point_time,omitzero"`
	// DefinitionFile is the machine definition the provider wrote (a local path for the local
	// provider), empty when the operation makes none (cleanup).
	DefinitionFile string `json:"definition_file,omitempty"`
}
