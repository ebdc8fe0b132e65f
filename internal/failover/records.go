package failover

import (
	"context"
	"encoding/json"
	"time"

	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

// Kinds of failover records.
const (
	KindTest     = "test"
	KindFailover = "failover"
)

// States of a failover record.
const (
	RecordRunning            = "running"   // its job runs
	RecordFailed             = "failed"    // the last attempt failed; retry, or clean up
	RecordSucceeded          = "succeeded" // the machine exists on the target
	RecordCommitted          = "committed" // failover only: no going back to another point
	RecordMigrationCompleted = "migration-completed"
)

func kindLabel(kind string) string {
	if kind == KindTest {
		return "test failover"
	}
	return "failover"
}

// Record is one failover or test failover of a machine.
type Record struct {
	ID             string             `json:"id"`
	Machine        string             `json:"machine"`
	Kind           string             `json:"kind"`
	State          string             `json:"state"`
	Run            string             `json:"run"`
	PointID        string             `json:"point_id"` // empty until resolved (latest, planned)
	PointTime      *time.Time         `json:"point_time"`
	PointRef       string             `json:"point_ref"` // as the user gave it
	Target         string             `json:"target"`
	Network        string             `json:"network,omitempty"` // test network override
	ShutdownSource bool               `json:"shutdown_source"`
	VerifyBoot     bool               `json:"verify_boot"`
	BootCheck      *BootCheck         `json:"boot_check"` // nil until a boot check ended
	JobID          string             `json:"job_id"`
	Definition     *target.Definition `json:"definition"`
	Result         *target.Result     `json:"result"`
	BytesDone      int64              `json:"bytes_done"`
	BytesTotal     int64              `json:"bytes_total"`
	Error          string             `json:"error"`
	CreatedBy      string             `json:"created_by"`
	Created        time.Time          `json:"created"`
	Updated        time.Time          `json:"updated"`

	vaultID string
}

const recordCols = `id, vault_id, machine, kind, state, run, point_id, point_time, target, network, shutdown_source, job_id, definition, result, bytes_done, bytes_total, error, created_by, created, updated`

type scanner interface{ Scan(...any) error }

func scanRecord(sc scanner) (*Record, error) {
	var r Record
	var pt, sh, c, u int64
	var def, res string
	if err := sc.Scan(&r.ID, &r.vaultID, &r.Machine, &r.Kind, &r.State, &r.Run, &r.PointID, &pt, &r.Target, &r.Network, &sh, &r.JobID, &def, &res, &r.BytesDone, &r.BytesTotal, &r.Error, &r.CreatedBy, &c, &u); err != nil {
		return nil, err
	}
	r.PointTime, r.ShutdownSource, r.Created, r.Updated = timePtr(fromNS(pt)), sh != 0, fromNS(c), fromNS(u)
	if def != "" {
		var d defColumn
		if err := json.Unmarshal([]byte(def), &d); err != nil {
			return nil, err
		}
		r.Definition, r.PointRef, r.VerifyBoot, r.BootCheck = &d.Definition, d.PointRef, d.VerifyBoot, d.BootCheck
	}
	if res != "" {
		r.Result = &target.Result{}
		if err := json.Unmarshal([]byte(res), r.Result); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

// defColumn is the definition column: the machine definition with the record's fields that have
// no column of their own (the point as the user gave it, the boot check), under osr_ names.
type defColumn struct {
	target.Definition
	PointRef   string     `json:"osr_point_ref"`
	VerifyBoot bool       `json:"osr_verify_boot,omitempty"`
	BootCheck  *BootCheck `json:"osr_boot_check,omitempty"`
}

func (r *Record) defJSON() string {
	if r.Definition == nil {
		if r.PointRef == "" && !r.VerifyBoot {
			return ""
		}
		b, _ := json.Marshal(struct {
			PointRef   string `json:"osr_point_ref"`
			VerifyBoot bool   `json:"osr_verify_boot,omitempty"`
		}{r.PointRef, r.VerifyBoot})
		return string(b)
	}
	b, _ := json.Marshal(defColumn{*r.Definition, r.PointRef, r.VerifyBoot, r.BootCheck})
	return string(b)
}

func (r *Record) resJSON() string {
	if r.Result == nil {
		return ""
	}
	b, _ := json.Marshal(r.Result)
	return string(b)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// record returns the newest record of kind of a machine, nil when none.
func (s *Service) record(ctx context.Context, tx *db.Tx, vaultID, machine, kind string) (*Record, error) {
	q := `SELECT ` + recordCols + ` FROM failovers WHERE vault_id = ? AND machine = ? AND kind = ? ORDER BY created DESC, id DESC LIMIT 1`
	var r *Record
	var err error
	if tx != nil {
		r, err = scanRecord(tx.QueryRow(ctx, q, vaultID, machine, kind))
	} else {
		r, err = scanRecord(s.v.DB().QueryRow(ctx, q, vaultID, machine, kind))
	}
	if isNoRows(err) {
		return nil, nil
	}
	return r, err
}

func (s *Service) insertRecord(ctx context.Context, tx *db.Tx, r *Record) error {
	var pt int64
	if r.PointTime != nil {
		pt = ns(*r.PointTime)
	}
	_, err := tx.Exec(ctx, `INSERT INTO failovers (`+recordCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.vaultID, r.Machine, r.Kind, r.State, r.Run, r.PointID, pt, r.Target, r.Network, b2i(r.ShutdownSource), r.JobID, r.defJSON(), r.resJSON(), r.BytesDone, r.BytesTotal, r.Error, r.CreatedBy, ns(r.Created), ns(r.Updated))
	return err
}

// saveRecord writes every mutable field of r (tx nil: on its own).
func (s *Service) saveRecord(ctx context.Context, tx *db.Tx, r *Record) error {
	r.Updated = s.clock.Now().UTC()
	var pt int64
	if r.PointTime != nil {
		pt = ns(*r.PointTime)
	}
	q := `UPDATE failovers SET state = ?, run = ?, point_id = ?, point_time = ?, target = ?, network = ?, shutdown_source = ?, job_id = ?, definition = ?, result = ?, bytes_done = ?, bytes_total = ?, error = ?, updated = ? WHERE id = ?`
	args := []any{r.State, r.Run, r.PointID, pt, r.Target, r.Network, b2i(r.ShutdownSource), r.JobID, r.defJSON(), r.resJSON(), r.BytesDone, r.BytesTotal, r.Error, ns(r.Updated), r.ID}
	var err error
	if tx != nil {
		_, err = tx.Exec(ctx, q, args...)
	} else {
		_, err = s.v.DB().Exec(ctx, q, args...)
	}
	return err
}

// ListRecords returns a vault's failover records, newest first.
func (s *Service) ListRecords(ctx context.Context, vaultName string) ([]*Record, error) {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	rows, err := s.v.DB().Query(ctx, `SELECT `+recordCols+` FROM failovers WHERE vault_id = ? ORDER BY created DESC, id DESC`, v.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Record{}
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
