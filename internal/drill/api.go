package drill

import (
	"context"
	"net/http"
	"strconv"

	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/extraapi"
)

// API serves drills under the vault's API: the vault is built with API.Routes in its
// Config.ExtraRoutes, then the drill service is bound with Bind (503 until then).
type API struct {
	extraapi.Bound[Service]
}

type handler = extraapi.Handler[Service]

func (a *API) wrap(h handler) func(ctx context.Context, r *http.Request) (int, any, error) {
	return a.Wrap("drills are not ready yet", h)
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
			if err := extraapi.ReadBody(r, &req, false); err != nil {
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
