package vault

import (
	"context"
	"net/http"
)

func (s *Service) hHealth(ctx context.Context, r *http.Request) (int, any, error) {
	return ok(map[string]any{"status": "ok", "time": s.clock.Now().UTC(), "leader": s.lead.leading()}, nil)
}

func (s *Service) hLogin(ctx context.Context, r *http.Request) (int, any, error) {
	var req LoginRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	return created(s.Login(ctx, req))
}

func (s *Service) hRegister(ctx context.Context, r *http.Request) (int, any, error) {
	var req RegisterRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	return created(s.Register(ctx, req))
}

func (s *Service) hWhoami(ctx context.Context, r *http.Request) (int, any, error) {
	a := actorOf(ctx)
	return ok(map[string]any{"user": a.User, "role": a.Role}, nil)
}

func (s *Service) hListVaults(ctx context.Context, r *http.Request) (int, any, error) {
	return ok(s.ListVaults(ctx))
}

func (s *Service) hCreateVault(ctx context.Context, r *http.Request) (int, any, error) {
	var req CreateVaultRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	return created(s.CreateVault(ctx, req))
}

func (s *Service) hGetVault(ctx context.Context, r *http.Request) (int, any, error) {
	return ok(s.GetVault(ctx, r.PathValue("vault")))
}

func (s *Service) hDeleteVault(ctx context.Context, r *http.Request) (int, any, error) {
	return noContent(s.DeleteVault(ctx, r.PathValue("vault")))
}

func (s *Service) hSetTarget(ctx context.Context, r *http.Request) (int, any, error) {
	var t Target
	if err := decode(r, &t); err != nil {
		return 0, nil, err
	}
	return ok(s.SetTarget(ctx, r.PathValue("vault"), t))
}

func (s *Service) hCreateRegKey(ctx context.Context, r *http.Request) (int, any, error) {
	return created(s.CreateRegistrationKey(ctx, r.PathValue("vault")))
}

func (s *Service) hListConfigServers(ctx context.Context, r *http.Request) (int, any, error) {
	return ok(s.ListConfigServers(ctx, r.PathValue("vault")))
}

func (s *Service) hRemoveConfigServer(ctx context.Context, r *http.Request) (int, any, error) {
	return noContent(s.RemoveConfigServer(ctx, r.PathValue("vault"), r.PathValue("cs")))
}

func (s *Service) hListMachines(ctx context.Context, r *http.Request) (int, any, error) {
	return ok(s.ListMachines(ctx, r.PathValue("vault")))
}

func (s *Service) hListPolicies(ctx context.Context, r *http.Request) (int, any, error) {
	return ok(s.ListPolicies(ctx, r.PathValue("vault")))
}

func (s *Service) hCreatePolicy(ctx context.Context, r *http.Request) (int, any, error) {
	var req CreatePolicyRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	return created(s.CreatePolicy(ctx, r.PathValue("vault"), req))
}

func (s *Service) hGetPolicy(ctx context.Context, r *http.Request) (int, any, error) {
	return ok(s.GetPolicy(ctx, r.PathValue("vault"), r.PathValue("policy")))
}

func (s *Service) hDeletePolicy(ctx context.Context, r *http.Request) (int, any, error) {
	return noContent(s.DeletePolicy(ctx, r.PathValue("vault"), r.PathValue("policy")))
}

func (s *Service) hAssociatePolicy(ctx context.Context, r *http.Request) (int, any, error) {
	var req AssociateRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	return ok(s.AssociatePolicy(ctx, r.PathValue("vault"), r.PathValue("policy"), req))
}

func (s *Service) hListItems(ctx context.Context, r *http.Request) (int, any, error) {
	return ok(s.ListItems(ctx, r.PathValue("vault")))
}

func (s *Service) hEnable(ctx context.Context, r *http.Request) (int, any, error) {
	var req EnableRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	return created(s.EnableReplication(ctx, r.PathValue("vault"), req))
}

func (s *Service) hGetItem(ctx context.Context, r *http.Request) (int, any, error) {
	return ok(s.GetItem(ctx, r.PathValue("vault"), r.PathValue("machine")))
}

func (s *Service) hDisable(ctx context.Context, r *http.Request) (int, any, error) {
	return noContent(s.DisableReplication(ctx, r.PathValue("vault"), r.PathValue("machine")))
}

func (s *Service) hRecoveryPoints(ctx context.Context, r *http.Request) (int, any, error) {
	return ok(s.RecoveryPoints(ctx, r.PathValue("vault"), r.PathValue("machine")))
}

func (s *Service) hListJobs(ctx context.Context, r *http.Request) (int, any, error) {
	vid, limit, err := s.listParams(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	return ok(s.ListJobs(ctx, vid, limit))
}

func (s *Service) hGetJob(ctx context.Context, r *http.Request) (int, any, error) {
	return ok(s.GetJob(ctx, r.PathValue("job")))
}

func (s *Service) hListEvents(ctx context.Context, r *http.Request) (int, any, error) {
	vid, limit, err := s.listParams(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	return ok(s.ListEvents(ctx, vid, limit))
}

func (s *Service) hListAlerts(ctx context.Context, r *http.Request) (int, any, error) {
	vid, _, err := s.listParams(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	return ok(s.ListAlerts(ctx, vid, r.URL.Query().Get("all") == "true"))
}

func (s *Service) hListAudit(ctx context.Context, r *http.Request) (int, any, error) {
	limit, err := queryLimit(r)
	if err != nil {
		return 0, nil, err
	}
	return ok(s.ListAudit(ctx, limit))
}

// listParams reads ?vault=NAME and ?limit=N.
func (s *Service) listParams(ctx context.Context, r *http.Request) (string, int, error) {
	limit, err := queryLimit(r)
	if err != nil {
		return "", 0, err
	}
	name := r.URL.Query().Get("vault")
	if name == "" {
		return "", limit, nil
	}
	v, err := s.vaultByName(ctx, name)
	if err != nil {
		return "", 0, err
	}
	return v.ID, limit, nil
}

func (s *Service) hListWebhooks(ctx context.Context, r *http.Request) (int, any, error) {
	return ok(s.ListWebhooks(ctx))
}

func (s *Service) hAddWebhook(ctx context.Context, r *http.Request) (int, any, error) {
	var req AddWebhookRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	return created(s.AddWebhook(ctx, req))
}

func (s *Service) hRemoveWebhook(ctx context.Context, r *http.Request) (int, any, error) {
	return noContent(s.RemoveWebhook(ctx, r.PathValue("webhook")))
}

func (s *Service) hListUsers(ctx context.Context, r *http.Request) (int, any, error) {
	return ok(s.ListUsers(ctx))
}

func (s *Service) hAddUser(ctx context.Context, r *http.Request) (int, any, error) {
	var req AddUserRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	return created(s.AddUser(ctx, req))
}

func (s *Service) hRemoveUser(ctx context.Context, r *http.Request) (int, any, error) {
	return noContent(s.RemoveUser(ctx, r.PathValue("user")))
}

func (s *Service) hListTokens(ctx context.Context, r *http.Request) (int, any, error) {
	return ok(s.ListTokens(ctx))
}

func (s *Service) hCreateToken(ctx context.Context, r *http.Request) (int, any, error) {
	var req CreateTokenRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	return created(s.CreateToken(ctx, req))
}

func (s *Service) hRevokeToken(ctx context.Context, r *http.Request) (int, any, error) {
	return noContent(s.RevokeToken(ctx, r.PathValue("token")))
}

func (s *Service) hHeartbeat(ctx context.Context, r *http.Request) (int, any, error) {
	var hb Heartbeat
	if err := decode(r, &hb); err != nil {
		return 0, nil, err
	}
	return ok(s.ConfigServerHeartbeat(ctx, hb))
}

func (s *Service) hInventory(ctx context.Context, r *http.Request) (int, any, error) {
	var inv Inventory
	if err := decode(r, &inv); err != nil {
		return 0, nil, err
	}
	return noContent(s.ConfigServerInventory(ctx, inv))
}

func (s *Service) hDesiredState(ctx context.Context, r *http.Request) (int, any, error) {
	return ok(s.ConfigServerDesiredState(ctx))
}
