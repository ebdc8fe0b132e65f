package failover

import (
	"context"
	"net/http"
	"sync/atomic"

	"github.com/opensiterecovery/osr/internal/vault"
)

// API serves the failover endpoints. The vault service needs its routes before it exists
// (vault.Config.ExtraRoutes) and the failover service needs the vault service, so the routes
// are made first and bound to the service once it is built:
//
//	api := &failover.API{}
//	cfg.ExtraRoutes = append(cfg.ExtraRoutes, api.Routes()...)
//	vs, _ := vault.New(cfg, deps)
//	fs, _ := failover.New(failover.Config{Vault: vs, ...}, failover.Deps{...})
//	api.Bind(fs)
//
// Until Bind, every endpoint answers 503.
type API struct {
	s atomic.Pointer[Service]
}

// Bind makes the routes serve s.
func (a *API) Bind(s *Service) { a.s.Store(s) }

type handler func(ctx context.Context, s *Service, r *http.Request) (int, any, error)

func (a *API) wrap(h handler) func(ctx context.Context, r *http.Request) (int, any, error) {
	return func(ctx context.Context, r *http.Request) (int, any, error) {
		s := a.s.Load()
		if s == nil {
			return 0, nil, vault.Errorf(http.StatusServiceUnavailable, "the failover service is starting: try again")
		}
		return h(ctx, s, r)
	}
}

// Routes returns the failover endpoints (documented in docs/api/openapi.yaml).
func (a *API) Routes() []vault.ExtraRoute {
	item := "/vaults/{vault}/protected-items/{machine}"
	rs := []struct {
		method, path, perm string
		h                  handler
	}{
		{"GET", "/vaults/{vault}/network-mappings", "read", hListMappings},
		{"POST", "/vaults/{vault}/network-mappings", "write", hAddMapping},
		{"DELETE", "/vaults/{vault}/network-mappings/{network}", "write", hRemoveMapping},
		{"GET", "/vaults/{vault}/targets", "read", hListTargets},
		{"POST", "/vaults/{vault}/targets", "write", hAddTarget},
		{"DELETE", "/vaults/{vault}/targets/{target}", "write", hRemoveTarget},
		{"GET", "/vaults/{vault}/failovers", "read", hListRecords},
		{"GET", item + "/failover", "read", hStatus},
		{"PUT", item + "/nics/{nic}", "write", hSetNIC},
		{"POST", item + "/failover/test", "failover", hTest},
		{"POST", item + "/failover/test/cleanup", "failover", hCleanup},
		{"POST", item + "/failover/run", "failover", hRun},
		{"POST", item + "/failover/commit", "failover", hCommit},
		{"POST", item + "/failover/change-point", "failover", hChangePoint},
		{"POST", item + "/migration/complete", "failover", hComplete},
	}
	out := make([]vault.ExtraRoute, len(rs))
	for i, r := range rs {
		out[i] = vault.ExtraRoute{Method: r.method, Path: r.path, Permission: r.perm, Handler: a.wrap(r.h)}
	}
	return out
}

func okBody(body any, err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, body, nil
}

func createdBody(body any, err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, body, nil
}

func accepted(body any, err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, body, nil
}

func noContent(err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func hListMappings(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
	return okBody(s.ListMappings(ctx, r.PathValue("vault")))
}

func hAddMapping(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
	var req AddMappingRequest
	if err := decode(r, &req, false); err != nil {
		return 0, nil, err
	}
	return createdBody(s.AddMapping(ctx, r.PathValue("vault"), req))
}

func hRemoveMapping(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
	return noContent(s.RemoveMapping(ctx, r.PathValue("vault"), r.PathValue("network")))
}

func hListTargets(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
	return okBody(s.ListTargets(ctx, r.PathValue("vault")))
}

func hAddTarget(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
	var req AddTargetRequest
	if err := decode(r, &req, false); err != nil {
		return 0, nil, err
	}
	return createdBody(s.AddTarget(ctx, r.PathValue("vault"), req))
}

func hRemoveTarget(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
	return noContent(s.RemoveTarget(ctx, r.PathValue("vault"), r.PathValue("target")))
}

func hListRecords(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
	return okBody(s.ListRecords(ctx, r.PathValue("vault")))
}

func hStatus(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
	return okBody(s.Status(ctx, r.PathValue("vault"), r.PathValue("machine")))
}

func hSetNIC(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
	var req SetNICRequest
	if err := decode(r, &req, false); err != nil {
		return 0, nil, err
	}
	return okBody(s.SetNIC(ctx, r.PathValue("vault"), r.PathValue("machine"), r.PathValue("nic"), req))
}

func hTest(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
	var req TestRequest
	if err := decode(r, &req, true); err != nil {
		return 0, nil, err
	}
	return accepted(s.TestFailover(ctx, r.PathValue("vault"), r.PathValue("machine"), req))
}

func hCleanup(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
	var req struct{}
	if err := decode(r, &req, true); err != nil {
		return 0, nil, err
	}
	return accepted(s.CleanupTest(ctx, r.PathValue("vault"), r.PathValue("machine")))
}

func hRun(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
	var req FailoverRequest
	if err := decode(r, &req, true); err != nil {
		return 0, nil, err
	}
	return accepted(s.Failover(ctx, r.PathValue("vault"), r.PathValue("machine"), req))
}

func hCommit(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
	var req struct{}
	if err := decode(r, &req, true); err != nil {
		return 0, nil, err
	}
	return okBody(s.Commit(ctx, r.PathValue("vault"), r.PathValue("machine")))
}

func hChangePoint(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
	var req ChangePointRequest
	if err := decode(r, &req, false); err != nil {
		return 0, nil, err
	}
	return accepted(s.ChangePoint(ctx, r.PathValue("vault"), r.PathValue("machine"), req))
}

func hComplete(ctx context.Context, s *Service, r *http.Request) (int, any, error) {
	var req CompleteMigrationRequest
	if err := decode(r, &req, true); err != nil {
		return 0, nil, err
	}
	return okBody(s.CompleteMigration(ctx, r.PathValue("vault"), r.PathValue("machine"), req))
}
