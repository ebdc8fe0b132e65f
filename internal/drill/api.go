package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/opensiterecovery/osr/internal/vault"
)

// API serves drills under the vault's API: the vault is built with API.Routes in its
// Config.ExtraRoutes, then the drill service is bound with Bind (503 until then).
type API struct {
	svc atomic.Pointer[Service]
}

// Bind makes the endpoints use s.
func (a *API) Bind(s *Service) { a.svc.Store(s) }

type handler func(ctx context.Context, s *Service, r *http.Request) (int, any, error)

func (a *API) wrap(h handler) func(ctx context.Context, r *http.Request) (int, any, error) {
	return func(ctx context.Context, r *http.Request) (int, any, error) {
		s := a.svc.Load()
		if s == nil {
			return 0, nil, vault.Errorf(http.StatusServiceUnavailable, "drills are not ready yet")
		}
		status, body, err := h(ctx, s, r)
		if err != nil {
			return 0, nil, err
		}
		return status, body, nil
	}
}

// Routes are the drill endpoints (docs/api/openapi.yaml).
func (a *API) Routes() []vault.ExtraRoute {
	base := "/vaults/{vault}/drills"
	return []vault.ExtraRoute{
		{Method: "GET", Path: base, Permission: "read", Handler: a.wrap(func(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
			ds, err := s.List(ctx, r.PathValue("vault"))
			return http.StatusOK, ds, err
		})},
		{Method: "POST", Path: base, Permission: "write", Handler: a.wrap(func(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
			var req CreateRequest
			if err := decodeBody(r, &req); err != nil {
				return 0, nil, err
			}
			d, err := s.Create(ctx, r.PathValue("vault"), req)
			return http.StatusCreated, d, err
		})},
		{Method: "GET", Path: base + "/{drill}", Permission: "read", Handler: a.wrap(func(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
			d, err := s.Get(ctx, r.PathValue("vault"), r.PathValue("drill"))
			return http.StatusOK, d, err
		})},
		{Method: "DELETE", Path: base + "/{drill}", Permission: "write", Handler: a.wrap(func(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
			return http.StatusNoContent, nil, s.Delete(ctx, r.PathValue("vault"), r.PathValue("drill"))
		})},
		{Method: "POST", Path: base + "/{drill}/run", Permission: "failover", Handler: a.wrap(func(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
			d, err := s.RunNow(ctx, r.PathValue("vault"), r.PathValue("drill"))
			return http.StatusAccepted, d, err
		})},
		{Method: "GET", Path: base + "/{drill}/reports", Permission: "read", Handler: a.wrap(func(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
			limit := 0
			if q := r.URL.Query().Get("limit"); q != "" {
				n, err := strconv.Atoi(q)
				if err != nil || n < 1 || n > 1000 {
					return 0, nil, badRequest("limit must be an integer between 1 and 1000, got %q", q)
				}
				limit = n
			}
			rs, err := s.Reports(ctx, r.PathValue("vault"), r.PathValue("drill"), limit)
			return http.StatusOK, rs, err
		})},
	}
}

// decodeBody reads a JSON request body strictly into v: one object, no unknown fields.
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return vault.Errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", vault.MaxBodyBytes)
	}
	if err != nil {
		return badRequest("read request body: %v", err)
	}
	return decodeJSON(b, v)
}

// decodeJSON decodes one JSON object with known fields only into v.
func decodeJSON(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return badRequest("request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("request body is not valid: %v", err)
	}
	if dec.More() {
		return badRequest("request body has data after the JSON object")
	}
	return nil
}
