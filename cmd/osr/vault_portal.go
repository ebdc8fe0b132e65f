package main

import (
	"log/slog"
	"net/http"

	"github.com/opensiterecovery/osr/internal/portal"
	"github.com/opensiterecovery/osr/internal/vault"
)

// newVaultService opens the vault service with the portal mounted under /. The portal calls the
// API in-process with the signed-in user's token; the API handler exists only once the service
// does, hence the indirection.
func (a *app) newVaultService(cfg vault.Config, log *slog.Logger) (*vault.Service, error) {
	var api http.Handler
	p, err := portal.New(portal.Config{}, portal.Deps{API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.ServeHTTP(w, r) }),
		Clock: a.clock, Logger: log})
	if err != nil {
		return nil, err
	}
	cfg.Portal = p.Handler()
	svc, err := vault.New(cfg, vault.Deps{Clock: a.clock, Logger: log, Getenv: a.getenv})
	if err != nil {
		return nil, err
	}
	api = svc.Handler()
	return svc, nil
}
