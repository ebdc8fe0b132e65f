package recoveryplan

import (
	"context"
	"errors"
	"time"

	"github.com/opensiterecovery/osr/internal/failover"
	"github.com/opensiterecovery/osr/internal/vault"
)

// FailoverService adapts the failover service (internal/failover) to Failoverer.
type FailoverService struct {
	Service *failover.Service
	Vault   *vault.Service
	// Poll is how often Wait looks at the job (default 200 ms).
	Poll time.Duration
}

var _ Failoverer = (*FailoverService)(nil)

func (f *FailoverService) TestFailover(ctx context.Context, v, machine string, o MachineOptions) (string, error) {
	op, err := f.Service.TestFailover(ctx, v, machine, failover.TestRequest{Point: o.Point, Network: o.Network, Target: o.Target})
	if err != nil {
		return "", err
	}
	return op.Job.ID, nil
}

func (f *FailoverService) Failover(ctx context.Context, v, machine string, o MachineOptions) (string, error) {
	op, err := f.Service.Failover(ctx, v, machine, failover.FailoverRequest{Point: o.Point, Target: o.Target, ShutdownSource: o.ShutdownSource})
	if err != nil {
		return "", err
	}
	return op.Job.ID, nil
}

func (f *FailoverService) Cleanup(ctx context.Context, v, machine string) (string, error) {
	op, err := f.Service.CleanupTest(ctx, v, machine)
	if err != nil {
		return "", err
	}
	return op.Job.ID, nil
}

// Wait follows the job in the vault; once it succeeded, the outcome comes from the failover
// record the job belongs to (none for a cleanup, whose record is gone).
func (f *FailoverService) Wait(ctx context.Context, jobID string) (*Outcome, error) {
	poll := f.Poll
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	for {
		j, err := f.Vault.GetJob(ctx, jobID)
		if err != nil {
			return nil, err
		}
		switch j.State {
		case vault.JobFailed:
			return nil, errors.New(j.Error)
		case vault.JobSucceeded:
			recs, err := f.Service.ListRecords(ctx, j.VaultID)
			if err != nil {
				return nil, err
			}
			out := &Outcome{}
			for _, r := range recs {
				if r.JobID != jobID {
					continue
				}
				out.PointID = r.PointID
				if r.PointTime != nil {
					out.PointTime = *r.PointTime
				}
				if r.Result != nil {
					out.DefinitionFile = r.Result.DefinitionFile
				}
				break
			}
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}
