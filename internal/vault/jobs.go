package vault

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Job states.
const (
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
)

// Job is a long operation with its progress and result.
type Job struct {
	ID        string     `json:"id"`
	VaultID   string     `json:"vault_id"`
	Kind      string     `json:"kind"`
	Target    string     `json:"target"`
	State     string     `json:"state"`
	Progress  float64    `json:"progress"` // 0-100
	Result    string     `json:"result"`
	Error     string     `json:"error"`
	CreatedBy string     `json:"created_by"`
	Started   time.Time  `json:"started"`
	Ended     *time.Time `json:"ended"`
}

// startJob records a running job in tx.
func (s *Service) startJob(ctx context.Context, tx *dbTx, vaultID, kind, target string) (string, error) {
	id := s.seqID("job-")
	_, err := tx.Exec(ctx, `INSERT INTO jobs (id, vault_id, kind, target, state, progress, result, error, created_by, started, ended) VALUES (?, ?, ?, ?, ?, 0, '', '', ?, ?, 0)`,
		id, vaultID, kind, target, JobRunning, actorOf(ctx).Name(), ns(s.clock.Now()))
	return id, err
}

// finishJob ends a job (jobErr nil: succeeded with result).
func (s *Service) finishJob(ctx context.Context, tx *dbTx, id, result string, jobErr error) error {
	state, msg, progress := JobSucceeded, "", 100.0
	if jobErr != nil {
		state, msg, progress = JobFailed, jobErr.Error(), 0
	}
	q := `UPDATE jobs SET state = ?, progress = CASE WHEN ? = 'failed' THEN progress ELSE ? END, result = ?, error = ?, ended = ? WHERE id = ?`
	args := []any{state, state, progress, result, msg, ns(s.clock.Now()), id}
	var err error
	if tx != nil {
		_, err = tx.Exec(ctx, q, args...)
	} else {
		_, err = s.db.Exec(ctx, q, args...)
	}
	return err
}

// jobProgress updates the progress of the running jobs of kind on target.
func (s *Service) jobProgress(ctx context.Context, tx *dbTx, vaultID, kind, target string, pct float64) error {
	_, err := tx.Exec(ctx, `UPDATE jobs SET progress = ? WHERE vault_id = ? AND kind = ? AND target = ? AND state = ?`, pct, vaultID, kind, target, JobRunning)
	return err
}

// endJobs finishes the running jobs of kind on target.
func (s *Service) endJobs(ctx context.Context, tx *dbTx, vaultID, kind, target, result string, jobErr error) error {
	rows, err := tx.Query(ctx, `SELECT id FROM jobs WHERE vault_id = ? AND kind = ? AND target = ? AND state = ?`, vaultID, kind, target, JobRunning)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		if err := s.finishJob(ctx, tx, id, result, jobErr); err != nil {
			return err
		}
	}
	return nil
}

const jobCols = `id, vault_id, kind, target, state, progress, result, error, created_by, started, ended`

func scanJob(sc interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var st, en int64
	err := sc.Scan(&j.ID, &j.VaultID, &j.Kind, &j.Target, &j.State, &j.Progress, &j.Result, &j.Error, &j.CreatedBy, &st, &en)
	j.Started, j.Ended = fromNS(st), timePtr(fromNS(en))
	return j, err
}

// ListJobs returns the newest jobs first, of one vault when vaultID is set.
func (s *Service) ListJobs(ctx context.Context, vaultID string, limit int) ([]Job, error) {
	rows, err := s.db.Query(ctx, `SELECT `+jobCols+` FROM jobs WHERE (? = '' OR vault_id = ?) ORDER BY started DESC, id DESC LIMIT ?`, vaultID, vaultID, clampLimit(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Job{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// GetJob returns one job.
func (s *Service) GetJob(ctx context.Context, id string) (*Job, error) {
	j, err := scanJob(s.db.QueryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("job %s does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	return &j, nil
}
