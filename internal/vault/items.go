package vault

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

// Protected item states (docs/control-plane.md). Failed over, committed and migration completed
// are set by failover.
const (
	StateEnabling           = "enabling"
	StateInitialReplication = "initial-replication"
	StateProtected          = "protected"
	StateResynchronising    = "resynchronising"
	StateError              = "error"
	StateFailedOver         = "failed-over"
	StateCommitted          = "committed"
	StateMigrationCompleted = "migration-completed"
)

// reportable are the states a configuration server may report.
var reportable = map[string]bool{StateEnabling: true, StateInitialReplication: true, StateProtected: true, StateResynchronising: true, StateError: true}

// ProtectedItem is a machine replicated into a vault.
type ProtectedItem struct {
	Machine        string     `json:"machine"`
	VaultID        string     `json:"vault_id"`
	Policy         string     `json:"policy"`
	ProcessServer  string     `json:"process_server"`
	ConfigServer   string     `json:"config_server"`
	State          string     `json:"state"`
	InitialPercent float64    `json:"initial_percent"`
	LastPointTime  *time.Time `json:"last_point_time"`
	LastPointID    string     `json:"last_point_id"`
	RPOSeconds     *int64     `json:"rpo_seconds"` // now minus the newest point's time
	Error          string     `json:"error"`
	Created        time.Time  `json:"created"`
	Updated        time.Time  `json:"updated"`
}

// EnableRequest is the body of POST /vaults/{vault}/protected-items.
type EnableRequest struct {
	Machine       string `json:"machine"`
	Policy        string `json:"policy"`
	ProcessServer string `json:"process_server"` // optional: the configuration server chooses
}

// EnableReplication starts protecting a machine of a configuration server's inventory with a
// policy associated with that configuration server. It starts an enable-replication job that
// follows initial replication and ends when the item is protected.
func (s *Service) EnableReplication(ctx context.Context, vault string, req EnableRequest) (*ProtectedItem, error) {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return nil, err
	}
	if err := checkName("machine", req.Machine); err != nil {
		return nil, err
	}
	if req.Policy == "" {
		return nil, badRequest("policy is required")
	}
	var csID, csName string
	err = s.db.QueryRow(ctx, `SELECT m.config_server_id, c.name FROM machines m JOIN config_servers c ON c.id = m.config_server_id WHERE m.vault_id = ? AND m.name = ?`, v.ID, req.Machine).Scan(&csID, &csName)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("machine %s is not in the inventory of any configuration server of vault %s", req.Machine, v.Name)
	}
	if err != nil {
		return nil, err
	}
	p, err := s.policy(ctx, v.ID, req.Policy)
	if err != nil {
		return nil, err
	}
	if p.FailbackOf != "" {
		return nil, conflict("policy %s is a failback twin, used for failback only", p.Name)
	}
	associated := false
	for _, c := range p.ConfigServers {
		associated = associated || c == csName
	}
	if !associated {
		return nil, conflict("policy %s is not associated with configuration server %s (osr policy associate)", p.Name, csName)
	}
	if req.ProcessServer != "" {
		cs, err := s.configServer(ctx, v.ID, csID)
		if err != nil {
			return nil, err
		}
		known := false
		for _, ps := range cs.Heartbeat.ProcessServers {
			known = known || ps.Name == req.ProcessServer
		}
		if !known {
			return nil, notFound("process server %s is not known to configuration server %s", req.ProcessServer, csName)
		}
	}
	now := s.clock.Now().UTC()
	err = s.db.InTx(ctx, func(tx *dbTx) error {
		if err := bumpDesired(ctx, tx, v.ID); err != nil { // first: it locks the vault row
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM protected_items WHERE vault_id = ? AND machine = ?`, v.ID, req.Machine).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict("machine %s is already protected", req.Machine)
		}
		_, err := tx.Exec(ctx, `INSERT INTO protected_items (vault_id, machine, policy_id, process_server, config_server_id, state, initial_percent, last_point_time, last_point_id, error, created, updated) VALUES (?, ?, ?, ?, ?, ?, 0, 0, '', '', ?, ?)`,
			v.ID, req.Machine, p.ID, req.ProcessServer, csID, StateEnabling, ns(now), ns(now))
		if db.IsUniqueViolation(err) {
			return conflict("machine %s is already protected", req.Machine)
		}
		if err != nil {
			return err
		}
		if _, err := s.startJob(ctx, tx, v.ID, "enable-replication", req.Machine); err != nil {
			return err
		}
		if err := s.event(ctx, tx, v.ID, "info", "replication-enabled", req.Machine, "replication of "+req.Machine+" enabled with policy "+p.Name); err != nil {
			return err
		}
		return s.audit(ctx, tx, "replication.enable", v.Name+"/"+req.Machine, "policy "+p.Name)
	})
	if err != nil {
		return nil, err
	}
	return s.GetItem(ctx, v.Name, req.Machine)
}

// DisableReplication stops protecting a machine. Its recovery points stay in vault storage until
// retention and prune remove them.
func (s *Service) DisableReplication(ctx context.Context, vault, machine string) error {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *dbTx) error {
		if err := bumpDesired(ctx, tx, v.ID); err != nil { // first: it locks the vault row
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM protected_items WHERE vault_id = ? AND machine = ?`, v.ID, machine)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("machine %s is not protected", machine)
		}
		if err := s.endJobs(ctx, tx, v.ID, "enable-replication", machine, "", errors.New("replication disabled")); err != nil {
			return err
		}
		id, err := s.startJob(ctx, tx, v.ID, "disable-replication", machine)
		if err != nil {
			return err
		}
		if err := s.finishJob(ctx, tx, id, "replication disabled", nil); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE alerts SET cleared = ? WHERE vault_id = ? AND subject = ? AND cleared = 0`, ns(s.clock.Now()), v.ID, "item/"+machine); err != nil {
			return err
		}
		if err := s.event(ctx, tx, v.ID, "info", "replication-disabled", machine, "replication of "+machine+" disabled"); err != nil {
			return err
		}
		return s.audit(ctx, tx, "replication.disable", v.Name+"/"+machine, "")
	})
}

const itemSelect = `SELECT i.machine, i.vault_id, p.name, i.process_server, c.name, i.state, i.initial_percent, i.last_point_time, i.last_point_id, i.error, i.created, i.updated
	FROM protected_items i JOIN policies p ON p.id = i.policy_id LEFT JOIN config_servers c ON c.id = i.config_server_id`

func (s *Service) scanItem(sc interface{ Scan(...any) error }) (*ProtectedItem, error) {
	var it ProtectedItem
	var lpt, c, u int64
	var cs sql.NullString
	if err := sc.Scan(&it.Machine, &it.VaultID, &it.Policy, &it.ProcessServer, &cs, &it.State, &it.InitialPercent, &lpt, &it.LastPointID, &it.Error, &c, &u); err != nil {
		return nil, err
	}
	it.ConfigServer = cs.String
	it.LastPointTime, it.Created, it.Updated = timePtr(fromNS(lpt)), fromNS(c), fromNS(u)
	if lpt != 0 {
		rpo := int64(s.clock.Now().Sub(fromNS(lpt)) / time.Second)
		it.RPOSeconds = &rpo
	}
	return &it, nil
}

// ListItems returns a vault's protected items by machine name.
func (s *Service) ListItems(ctx context.Context, vault string) ([]*ProtectedItem, error) {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, itemSelect+` WHERE i.vault_id = ? ORDER BY i.machine`, v.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*ProtectedItem{}
	for rows.Next() {
		it, err := s.scanItem(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// GetItem returns one protected item.
func (s *Service) GetItem(ctx context.Context, vault, machine string) (*ProtectedItem, error) {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return nil, err
	}
	it, err := s.scanItem(s.db.QueryRow(ctx, itemSelect+` WHERE i.vault_id = ? AND i.machine = ?`, v.ID, machine))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("machine %s is not protected", machine)
	}
	return it, err
}

// RecoveryPoint is a recovery point offered for failover.
type RecoveryPoint struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	Consistency string    `json:"consistency"`
	Disks       []string  `json:"disks"`
	Committed   time.Time `json:"committed"`
}

// RecoveryPoints lists a machine's recovery points from the vault's store catalog, newest first.
// Partial points (chunks of initial replication) are never offered.
func (s *Service) RecoveryPoints(ctx context.Context, vault, machine string) ([]RecoveryPoint, error) {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return nil, err
	}
	if err := checkName("machine", machine); err != nil {
		return nil, err
	}
	r, err := s.repo(ctx, v)
	if err != nil {
		return nil, err
	}
	pts, err := r.Points(ctx, machine)
	if err != nil {
		return nil, err
	}
	out := []RecoveryPoint{}
	for i := len(pts) - 1; i >= 0; i-- {
		p := pts[i]
		if isPartial(p) {
			continue
		}
		rp := RecoveryPoint{ID: p.ID, Time: p.Time.UTC(), Consistency: string(p.Consistency), Committed: p.Committed.UTC(), Disks: []string{}}
		for _, d := range p.Disks {
			rp.Disks = append(rp.Disks, d.Name)
		}
		out = append(out, rp)
	}
	return out, nil
}

var _ = store.CrashConsistent
