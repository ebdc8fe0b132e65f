package vaultlink

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Kinds of the vault's requests to a configuration server (docs/pipeline.md, "Planned failover").
const (
	RequestFinalSync      = "final-sync"      // the agent takes, sends and commits a last point
	RequestLatestReceived = "latest-received" // the process server commits what it received
)

// Request is an operation the vault asks of a configuration server on one of its machines.
type Request struct {
	ID             string `json:"id"`
	Kind           string `json:"kind"`
	Machine        string `json:"machine"`
	Shutdown       bool   `json:"shutdown,omitempty"` // final-sync: run the shutdown hook first, stop replicating after
	TimeoutSeconds int64  `json:"timeout_seconds"`    // what is left of the vault's bound when it answered
}

// Requests is the answer of GET /api/v1/cs/requests.
type Requests struct {
	Requests []Request `json:"requests"`
}

// RequestReport is the body of POST /api/v1/cs/requests/{id}: the outcome of a request.
type RequestReport struct {
	State   string `json:"state"` // succeeded or failed
	PointID string `json:"point_id,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Requests returns the vault's open requests for this configuration server. With wait > 0 the
// vault holds the answer (long poll) until the set of open requests differs from have, or wait
// passes.
func (c *Client) Requests(ctx context.Context, have []string, wait time.Duration) ([]Request, error) {
	q := url.Values{}
	q.Set("wait", fmt.Sprint(int(wait/time.Second)))
	if len(have) > 0 {
		q.Set("have", strings.Join(have, ","))
	}
	var out Requests
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/cs/requests?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return out.Requests, nil
}

// ReportRequest sends the outcome of request id. Sending the same outcome again is accepted; the
// vault answers 404 for a request it does not know (or that is not this configuration server's)
// and 409 when the request already ended otherwise (it timed out, say).
func (c *Client) ReportRequest(ctx context.Context, id string, r RequestReport) error {
	_, err := c.do(ctx, http.MethodPost, "/api/v1/cs/requests/"+url.PathEscape(id), r, nil)
	return err
}
