package recoveryplan

import (
	"context"
	"net/http"

	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/extraapi"
)

// API serves recovery plans under the vault's API. The vault service is built with API.Routes in
// its Config.ExtraRoutes, then the plan service (which needs the vault) is bound with Bind; until
// then the endpoints answer 503.
type API struct {
	extraapi.Bound[Service]
}

type handler = extraapi.Handler[Service]

func (a *API) wrap(h handler) func(ctx context.Context, r *http.Request) (int, any, error) {
	return a.Wrap("recovery plans are not ready yet", h)
}

// Routes are the plan endpoints (docs/api/openapi.yaml).
func (a *API) Routes() []vault.ExtraRoute {
	run := func(op string) handler {
		return func(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
			var req RunRequest
			if err := extraapi.ReadBody(r, &req, true); err != nil {
				return 0, nil, err
			}
			run, err := s.Start(ctx, r.PathValue("vault"), r.PathValue("plan"), op, req)
			return http.StatusAccepted, run, err
		}
	}
	base := "/vaults/{vault}/recovery-plans"
	return []vault.ExtraRoute{
		{Method: "GET", Path: base, Permission: "read", Handler: a.wrap(func(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
			ps, err := s.List(ctx, r.PathValue("vault"))
			return http.StatusOK, ps, err
		})},
		{Method: "POST", Path: base, Permission: "write", Handler: a.wrap(func(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
			var req CreateRequest
			if err := extraapi.ReadBody(r, &req, false); err != nil {
				return 0, nil, err
			}
			p, err := s.Create(ctx, r.PathValue("vault"), req)
			return http.StatusCreated, p, err
		})},
		{Method: "GET", Path: base + "/{plan}", Permission: "read", Handler: a.wrap(func(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
			p, err := s.Get(ctx, r.PathValue("vault"), r.PathValue("plan"))
			return http.StatusOK, p, err
		})},
		{Method: "DELETE", Path: base + "/{plan}", Permission: "write", Handler: a.wrap(func(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
			return http.StatusNoContent, nil, s.Delete(ctx, r.PathValue("vault"), r.PathValue("plan"))
		})},
		{Method: "POST", Path: base + "/{plan}/failover", Permission: "failover", Handler: a.wrap(run(OpFailover))},
		{Method: "POST", Path: base + "/{plan}/test-failover", Permission: "failover", Handler: a.wrap(run(OpTestFailover))},
		{Method: "POST", Path: base + "/{plan}/cleanup", Permission: "failover", Handler: a.wrap(run(OpCleanup))},
		{Method: "POST", Path: base + "/{plan}/resume", Permission: "failover", Handler: a.wrap(func(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
			run, err := s.Resume(ctx, r.PathValue("vault"), r.PathValue("plan"))
			return http.StatusOK, run, err
		})},
		{Method: "GET", Path: base + "/{plan}/runs", Permission: "read", Handler: a.wrap(func(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
			runs, err := s.ListRuns(ctx, r.PathValue("vault"), r.PathValue("plan"))
			return http.StatusOK, runs, err
		})},
		{Method: "GET", Path: base + "/{plan}/runs/{run}", Permission: "read", Handler: a.wrap(func(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
			run, err := s.GetRun(ctx, r.PathValue("vault"), r.PathValue("run"))
			if err == nil && run.Plan != r.PathValue("plan") {
				err = vault.Errorf(http.StatusNotFound, "run %s is not a run of recovery plan %s", run.ID, r.PathValue("plan"))
			}
			return http.StatusOK, run, err
		})},
	}
}
