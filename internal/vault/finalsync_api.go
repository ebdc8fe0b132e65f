package vault

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CSRequest is one open request of the vault to a configuration server (GET /cs/requests).
type CSRequest struct {
	ID             string `json:"id"`
	Kind           string `json:"kind"` // final-sync or latest-received
	Machine        string `json:"machine"`
	Shutdown       bool   `json:"shutdown,omitempty"`
	TimeoutSeconds int64  `json:"timeout_seconds"` // what is left of the request's bound
}

// CSRequests is the answer of GET /cs/requests.
type CSRequests struct {
	Requests []CSRequest `json:"requests"`
}

// RequestReport is the body of POST /cs/requests/{id}.
type RequestReport struct {
	State   string `json:"state"` // succeeded or failed
	PointID string `json:"point_id,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
	Error   string `json:"error,omitempty"`
}

// MaxRequestWait bounds the long poll of GET /cs/requests.
const MaxRequestWait = 25 * time.Second

// requestListEvery is how often a long poll reads the open requests.
const requestListEvery = 250 * time.Millisecond

func (r *RequestReport) validate() error {
	switch r.State {
	case JobSucceeded:
		if r.Error != "" {
			return badRequest("a succeeded request has no error")
		}
	case JobFailed:
		if r.Error == "" || r.PointID != "" {
			return badRequest("a failed request needs an error and has no point_id")
		}
	default:
		return badRequest("state must be succeeded or failed, got %q", r.State)
	}
	if len(r.PointID) > 200 || len(r.Error) > 4096 {
		return badRequest("point_id or error is too long")
	}
	return nil
}

// openRequests lists the running request jobs of the calling configuration server's machines.
func (s *Service) openRequests(ctx context.Context) ([]CSRequest, error) {
	a := actorOf(ctx)
	rows, err := s.db.Query(ctx, `SELECT j.id, j.kind, j.target, j.started FROM jobs j JOIN protected_items i ON i.vault_id = j.vault_id AND i.machine = j.target
		WHERE j.vault_id = ? AND i.config_server_id = ? AND j.state = ? AND j.kind IN (?, ?, ?) ORDER BY j.started, j.id`,
		a.VaultID, a.ConfigServer, JobRunning, JobFinalSync, JobFinalSyncShutdown, JobLatestReceived)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	now := s.clock.Now()
	out := []CSRequest{}
	for rows.Next() {
		var r CSRequest
		var started int64
		if err := rows.Scan(&r.ID, &r.Kind, &r.Machine, &started); err != nil {
			return nil, err
		}
		left := fromNS(started).Add(requestTimeout(r.Kind)).Sub(now)
		r.TimeoutSeconds = max(int64(left/time.Second), 1)
		if r.Kind == JobFinalSyncShutdown {
			r.Kind, r.Shutdown = JobFinalSync, true
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ConfigServerRequests returns the open requests for the calling configuration server. With
// wait > 0 it answers when the set of open request IDs differs from have, or wait (at most
// MaxRequestWait) passed, or ctx ended.
func (s *Service) ConfigServerRequests(ctx context.Context, have []string, wait time.Duration) (*CSRequests, error) {
	slices.Sort(have)
	wait = min(wait, MaxRequestWait)
	end := time.Now().Add(wait)
	for {
		reqs, err := s.openRequests(ctx)
		if err != nil {
			return nil, err
		}
		ids := make([]string, len(reqs))
		for i, r := range reqs {
			ids[i] = r.ID
		}
		slices.Sort(ids)
		if wait <= 0 || !slices.Equal(ids, have) || !time.Now().Before(end) {
			return &CSRequests{Requests: reqs}, nil
		}
		select {
		case <-ctx.Done():
			return &CSRequests{Requests: reqs}, nil
		case <-time.After(min(requestListEvery, time.Until(end))):
		}
	}
}

// ConfigServerReport ends request id with the configuration server's outcome. A request that is
// not the caller's (or not a request) is 404; the same outcome again is accepted; another outcome
// of a request that already ended (timed out here, say) is 409.
func (s *Service) ConfigServerReport(ctx context.Context, id string, rep RequestReport) error {
	if err := rep.validate(); err != nil {
		return err
	}
	a := actorOf(ctx)
	return s.db.InTx(ctx, func(tx *dbTx) error {
		var kind, state, result, jobErr string
		err := tx.QueryRow(ctx, `SELECT j.kind, j.state, j.result, j.error FROM jobs j JOIN protected_items i ON i.vault_id = j.vault_id AND i.machine = j.target
			WHERE j.id = ? AND j.vault_id = ? AND i.config_server_id = ? AND j.kind IN (?, ?, ?)`,
			id, a.VaultID, a.ConfigServer, JobFinalSync, JobFinalSyncShutdown, JobLatestReceived).Scan(&kind, &state, &result, &jobErr)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("request %s does not exist", id)
		}
		if err != nil {
			return err
		}
		if rep.State == JobSucceeded && rep.PointID == "" && kind != JobLatestReceived {
			return badRequest("a succeeded final sync needs its point_id")
		}
		if state != JobRunning {
			if state == rep.State && result == rep.PointID && (rep.State == JobSucceeded || jobErr == rep.Error) {
				return nil // a repeated report
			}
			return conflict("request %s has already ended (%s)", id, state)
		}
		var jerr error
		if rep.State == JobFailed {
			jerr = errors.New(rep.Error)
		}
		return s.finishJob(ctx, tx, id, rep.PointID, jerr)
	})
}

func (s *Service) hCSRequests(ctx context.Context, r *http.Request) (int, any, error) {
	q := r.URL.Query()
	var wait time.Duration
	if w := q.Get("wait"); w != "" {
		n, err := strconv.Atoi(w)
		if err != nil || n < 0 {
			return 0, nil, badRequest("wait must be a number of seconds, got %q", w)
		}
		wait = time.Duration(n) * time.Second
	}
	var have []string
	if h := q.Get("have"); h != "" {
		have = strings.Split(h, ",")
		if len(have) > 1000 {
			return 0, nil, badRequest("have lists more than 1000 requests")
		}
	}
	return ok(s.ConfigServerRequests(ctx, have, wait))
}

func (s *Service) hCSReport(ctx context.Context, r *http.Request) (int, any, error) {
	var rep RequestReport
	if err := decode(r, &rep); err != nil {
		return 0, nil, err
	}
	return noContent(s.ConfigServerReport(ctx, r.PathValue("id"), rep))
}
