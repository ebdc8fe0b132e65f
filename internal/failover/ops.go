package failover

import (
	"context"
	"fmt"
	"net/http"

	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

// Operation is what starting an operation answers: its job and the failover record.
type Operation struct {
	Job      *vault.Job `json:"job"`
	Failover *Record    `json:"failover"`
}

// TestRequest is the body of POST .../failover/test.
type TestRequest struct {
	Point   string `json:"point"`   // default latest-processed
	Network string `json:"network"` // every NIC on this network; default: each mapping's test network
	Target  string `json:"target"`  // default: the vault's only target
	// VerifyBoot boots the machine from its new disks (local targets only); the job fails
	// when it does not boot.
	VerifyBoot bool `json:"verify_boot"`
}

// FailoverRequest is the body of POST .../failover/run.
type FailoverRequest struct {
	Point  string `json:"point"` // default latest-processed; latest (or empty) with shutdown_source
	Target string `json:"target"`
	// ShutdownSource makes it a planned failover: the source's writes stop, a final sync is
	// committed, and the failover uses that point.
	ShutdownSource bool `json:"shutdown_source"`
	// VerifyBoot boots the machine from its new disks (local targets only); the job fails
	// when it does not boot.
	VerifyBoot bool `json:"verify_boot"`
}

// ChangePointRequest is the body of POST .../failover/change-point.
type ChangePointRequest struct {
	Point string `json:"point"`
}

// CompleteMigrationRequest is the body of POST .../migration/complete.
type CompleteMigrationRequest struct {
	RemoveAgent bool `json:"remove_agent"`
}

// Job kinds.
const (
	JobTestFailover      = "test-failover"
	JobTestCleanup       = "test-failover-cleanup"
	JobFailover          = "failover"
	JobCommit            = "commit-failover"
	JobChangePoint       = "change-recovery-point"
	JobCompleteMigration = "complete-migration"
)

// checkReplicating refuses items that cannot be failed over.
func checkReplicating(it *vault.ProtectedItem, what string) error {
	switch it.State {
	case vault.StateEnabling, vault.StateInitialReplication:
		return conflict("machine %s is not protected yet (%s): it has no complete recovery point for a %s", it.Machine, it.State, what)
	case vault.StateFailedOver, vault.StateCommitted, vault.StateMigrationCompleted:
		return conflict("machine %s is %s: a %s needs a machine that is replicating", it.Machine, it.State, what)
	}
	return nil
}

// prepared is an operation checked and ready to be recorded.
type prepared struct {
	v      *vault.Vault
	repo   *store.Repo
	plan   *plan
	point  *store.Point // nil when the job resolves it (latest, planned)
	disks  []string     // the inventory's disk order
	prev   *Record      // the machine's previous record of this kind
	target string
	// provider is the target's provider; verifyBoot: boot the machine once created.
	provider   string
	verifyBoot bool
}

func (s *Service) prepare(ctx context.Context, vaultName, machine, kind, pointRef, targetName, testNetwork string, shutdown bool) (*prepared, error) {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	it, err := s.v.GetItem(ctx, v.ID, machine)
	if err != nil {
		return nil, err
	}
	what := kindLabel(kind)
	if err := checkReplicating(it, what); err != nil {
		return nil, err
	}
	if err := checkPointRef(pointRef); err != nil {
		return nil, err
	}
	if (pointRef == PointLatest || shutdown) && s.cfg.Source == nil {
		return nil, vault.Errorf(http.StatusNotImplemented, "this vault service cannot reach the source side: point latest and planned failover are not available (use latest-processed)")
	}
	if shutdown && pointRef != PointLatest {
		return nil, badRequest("a planned failover (shutdown_source) fails over from its final sync: give point latest or none")
	}
	if testNetwork != "" {
		if err := checkNetwork("network", testNetwork); err != nil {
			return nil, err
		}
	}
	tgt, err := s.chooseTarget(ctx, v, targetName)
	if err != nil {
		return nil, err
	}
	pl, err := s.planMachine(ctx, v.ID, machine, kind == KindTest, testNetwork)
	if err != nil {
		return nil, err
	}
	p := &prepared{v: v, plan: pl, target: tgt.Name, provider: tgt.Provider}
	_, p.repo, err = s.v.VaultRepo(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	if pointRef != PointLatest {
		if p.point, err = resolvePoint(ctx, p.repo, machine, pointRef); err != nil {
			return nil, err
		}
	}
	m, err := s.machineInfo(ctx, v.ID, machine)
	if err != nil {
		return nil, err
	}
	for _, d := range m.Disks {
		p.disks = append(p.disks, d.Name)
	}
	if p.prev, err = s.record(ctx, nil, v.ID, machine, kind); err != nil {
		return nil, err
	}
	if kind == KindTest && p.prev != nil && p.prev.State == RecordSucceeded {
		return nil, conflict("machine %s has a test failover already (point %s on target %s): clean it up first (osr failover cleanup %s)", machine, short(p.prev.PointID), p.prev.Target, machine)
	}
	return p, nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// TestFailover starts a test failover of a machine into its test networks; replication goes on.
func (s *Service) TestFailover(ctx context.Context, vaultName, machine string, req TestRequest) (*Operation, error) {
	if req.Point == "" {
		req.Point = PointLatestProcessed
	}
	p, err := s.prepare(ctx, vaultName, machine, KindTest, req.Point, req.Target, req.Network, false)
	if err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("point %s, target %s", req.Point, p.target)
	if req.VerifyBoot {
		if err := s.checkVerifyBoot(p); err != nil {
			return nil, err
		}
		p.verifyBoot, detail = true, detail+", boot check"
	}
	return s.start(ctx, p, machine, KindTest, JobTestFailover, req.Point, req.Network, false, detail)
}

// Failover starts a failover of a machine (planned with ShutdownSource). On success the item is
// failed-over and replication of the machine stops.
func (s *Service) Failover(ctx context.Context, vaultName, machine string, req FailoverRequest) (*Operation, error) {
	if req.Point == "" {
		req.Point = PointLatestProcessed
		if req.ShutdownSource {
			req.Point = PointLatest
		}
	}
	p, err := s.prepare(ctx, vaultName, machine, KindFailover, req.Point, req.Target, "", req.ShutdownSource)
	if err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("point %s, target %s", req.Point, p.target)
	if req.ShutdownSource {
		detail = "planned (source shut down), " + detail
	}
	if req.VerifyBoot {
		if err := s.checkVerifyBoot(p); err != nil {
			return nil, err
		}
		p.verifyBoot, detail = true, detail+", boot check"
	}
	return s.start(ctx, p, machine, KindFailover, JobFailover, req.Point, "", req.ShutdownSource, detail)
}

// start records the job, the lock and the record in one transaction, then runs the job.
func (s *Service) start(ctx context.Context, p *prepared, machine, kind, jobKind, pointRef, network string, shutdown bool, detail string) (*Operation, error) {
	now := s.clock.Now().UTC()
	rec := &Record{ID: randomID("fo-"), vaultID: p.v.ID, Machine: machine, Kind: kind, State: RecordRunning, PointRef: pointRef,
		Target: p.target, Network: network, ShutdownSource: shutdown, VerifyBoot: p.verifyBoot, CreatedBy: vault.ActorOf(ctx).Name(), Created: now, Updated: now}
	rec.Run = rec.ID
	if prev := p.prev; prev != nil && prev.State == RecordFailed && shutdown && prev.ShutdownSource && prev.PointID != "" {
		// The previous planned attempt shut the source down after its final sync: that point
		// is the one to fail over from (the source cannot sync again).
		pt, err := loadPoint(ctx, p.repo, machine, prev.PointID)
		if err != nil {
			return nil, err
		}
		p.point = pt
		detail += ", final sync of the previous attempt " + short(pt.ID)
	}
	j := &job{s: s, v: p.v, repo: p.repo, rec: rec, kind: jobKind, plan: p.plan, point: p.point, pointRef: pointRef, disks: p.disks, verifyBoot: p.verifyBoot}
	if prev := p.prev; prev != nil && prev.State == RecordFailed {
		// A retry: the same point and target resume the previous run; otherwise what the
		// previous run may have made is removed first.
		rec.ID, rec.Created, rec.CreatedBy = prev.ID, prev.Created, prev.CreatedBy
		if p.point != nil && prev.PointID == p.point.ID && prev.Target == p.target {
			rec.Run = prev.Run
		} else {
			rec.Run = randomID("fo-")
			j.discard = prev
		}
	}
	err := s.v.DB().InTx(ctx, func(tx *db.Tx) error {
		if err := s.checkItemUnchanged(ctx, tx, p.v.ID, machine); err != nil {
			return err
		}
		id, err := s.v.StartJob(ctx, tx, p.v.ID, jobKind, machine)
		if err != nil {
			return err
		}
		rec.JobID = id
		if err := s.acquire(ctx, tx, p.v.ID, machine, jobKind, id); err != nil {
			return err
		}
		if p.prev != nil && p.prev.ID == rec.ID {
			err = s.saveRecord(ctx, tx, rec)
		} else {
			err = s.insertRecord(ctx, tx, rec)
		}
		if err != nil {
			return err
		}
		if err := s.v.AddEvent(ctx, tx, p.v.ID, "info", jobKind+"-started", machine, fmt.Sprintf("%s of %s started (%s)", kindLabel(kind), machine, detail)); err != nil {
			return err
		}
		return s.v.AddAudit(ctx, tx, "failover."+jobKind, p.v.Name+"/"+machine, detail)
	})
	if err != nil {
		return nil, err
	}
	s.launch(j)
	return s.operation(ctx, rec)
}

// checkItemUnchanged re-reads the item in the transaction (it may have been disabled or failed
// over since the checks).
func (s *Service) checkItemUnchanged(ctx context.Context, tx *db.Tx, vaultID, machine string) error {
	st, err := s.v.ItemState(ctx, tx, vaultID, machine)
	if err != nil {
		return err
	}
	return checkReplicating(&vault.ProtectedItem{Machine: machine, State: st}, "failover")
}

func (s *Service) operation(ctx context.Context, rec *Record) (*Operation, error) {
	j, err := s.v.GetJob(ctx, rec.JobID)
	if err != nil {
		return nil, err
	}
	r, err := s.record(ctx, nil, rec.vaultID, rec.Machine, rec.Kind)
	if err != nil {
		return nil, err
	}
	return &Operation{Job: j, Failover: r}, nil
}

// launch runs a job in the background, holding the lock's heartbeat.
func (s *Service) launch(j *job) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, stop := context.WithCancel(s.ctx)
		defer stop()
		go s.heartbeat(ctx, j.v.ID, j.rec.Machine)
		j.run(ctx)
	}()
}
