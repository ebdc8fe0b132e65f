package main

import (
	"log/slog"
	"net/http"

	"github.com/opensiterecovery/osr/internal/failover"
	"github.com/opensiterecovery/osr/internal/portal"
	"github.com/opensiterecovery/osr/internal/vault"
)

// newVaultService opens the vault service with the portal mounted under /. The portal calls the
// API in-process with the signed-in user's token; the API handler exists only once the service
// does, hence the indirection.
func (a *app) newVaultService(cfg vault.Config, log *slog.Logger) (*vaultStack, error) {
	var api http.Handler
	p, err := portal.New(portal.Config{}, portal.Deps{API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.ServeHTTP(w, r) }),
		Clock: a.clock, Logger: log})
	if err != nil {
		return nil, err
	}
	cfg.Portal = p.Handler()
	// Failover, recovery plans and drills add their endpoints before the service exists, and are
	// built on it after.
	bindFo, bindPlans := a.withFailover(&cfg), a.withPlans(&cfg)
	svc, err := vault.New(cfg, vault.Deps{Clock: a.clock, Logger: log, Getenv: a.getenv})
	if err != nil {
		return nil, err
	}
	st := &vaultStack{Service: svc}
	if st.fo, err = bindFo(svc); err != nil {
		svc.Close()
		return nil, err
	}
	if st.plans, err = bindPlans(svc, st.fo); err != nil {
		st.fo.Close()
		svc.Close()
		return nil, err
	}
	api = svc.Handler()
	return st, nil
}

// vaultStack is the vault service with the services built on it: failover, recovery plans and
// drills. Close stops them in order, the vault service last.
type vaultStack struct {
	*vault.Service
	fo    *failover.Service
	plans *planServices
}

func (v *vaultStack) Close() error {
	v.plans.Close()
	v.fo.Close()
	return v.Service.Close()
}
