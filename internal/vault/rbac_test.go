package vault

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// TestRBACMatrix: every role against every mutating endpoint. Allowed: the exact success status;
// refused: 403 with the exact message and the database unchanged.
func TestRBACMatrix(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		own := e.tokens[RoleOwner]
		protectedSetup(t, e)
		var machines []Machine
		for i := range 40 {
			machines = append(machines, Machine{Name: fmt.Sprintf("m%d", i), Source: "agent"})
		}
		csID := e.register("lab", "cs-matrix")
		mustDoWith(e, csID.client, "PUT", "/cs/inventory", Inventory{Machines: machines}, 204)
		e.mustDo("POST", "/vaults/lab/policies/gold/associations", own, AssociateRequest{ConfigServer: "cs-matrix"}, 200)
		n, enabled, disabled := 0, 0, 0
		uniq := func(p string) string { n++; return fmt.Sprintf("%s%d", p, n) }
		type fixture func(role Role) (path string, body any)
		fixtures := map[string]fixture{
			"POST /vaults": func(Role) (string, any) {
				name := uniq("v")
				return "/vaults", CreateVaultRequest{Name: name, StorageURL: "file://" + e.dir + "/" + name}
			},
			"DELETE /vaults/{vault}": func(Role) (string, any) {
				name := uniq("v")
				e.createVault(name)
				return "/vaults/" + name, nil
			},
			"PUT /vaults/{vault}/target": func(Role) (string, any) {
				return "/vaults/lab/target", Target{Provider: "local", Location: "/srv/" + uniq("t")}
			},
			"POST /vaults/{vault}/registration-keys": func(Role) (string, any) { return "/vaults/lab/registration-keys", nil },
			"POST /vaults/{vault}/policies": func(Role) (string, any) {
				return "/vaults/lab/policies", CreatePolicyRequest{Name: uniq("p")}
			},
			"DELETE /vaults/{vault}/policies/{policy}": func(Role) (string, any) {
				name := uniq("p")
				e.mustDo("POST", "/vaults/lab/policies", own, CreatePolicyRequest{Name: name}, 201)
				return "/vaults/lab/policies/" + name, nil
			},
			"POST /vaults/{vault}/policies/{policy}/associations": func(Role) (string, any) {
				name := uniq("p")
				e.mustDo("POST", "/vaults/lab/policies", own, CreatePolicyRequest{Name: name}, 201)
				return "/vaults/lab/policies/" + name + "/associations", AssociateRequest{ConfigServer: "cs1"}
			},
			"POST /vaults/{vault}/protected-items": func(Role) (string, any) {
				enabled++
				return "/vaults/lab/protected-items", EnableRequest{Machine: fmt.Sprintf("m%d", enabled), Policy: "gold"}
			},
			"DELETE /vaults/{vault}/protected-items/{machine}": func(Role) (string, any) {
				disabled++
				m := fmt.Sprintf("m%d", 20+disabled)
				e.mustDo("POST", "/vaults/lab/protected-items", own, EnableRequest{Machine: m, Policy: "gold"}, 201)
				return "/vaults/lab/protected-items/" + m, nil
			},
			"DELETE /vaults/{vault}/config-servers/{cs}": func(Role) (string, any) {
				name := uniq("csr")
				e.register("lab", name)
				return "/vaults/lab/config-servers/" + name, nil
			},
			"POST /webhooks": func(Role) (string, any) {
				return "/webhooks", AddWebhookRequest{URL: "http://127.0.0.1:1/" + uniq("h")}
			},
			"DELETE /webhooks/{webhook}": func(Role) (string, any) {
				var w Webhook
				e.decodeInto(e.mustDo("POST", "/webhooks", own, AddWebhookRequest{URL: "http://127.0.0.1:1/x"}, 201), &w)
				return "/webhooks/" + w.ID, nil
			},
			"POST /users": func(Role) (string, any) { return "/users", AddUserRequest{Name: uniq("u"), Role: "reader"} },
			"DELETE /users/{user}": func(Role) (string, any) {
				name := uniq("u")
				e.mustDo("POST", "/users", own, AddUserRequest{Name: name, Role: "reader"}, 201)
				return "/users/" + name, nil
			},
			"POST /tokens": func(Role) (string, any) { return "/tokens", CreateTokenRequest{Name: uniq("t")} },
			"DELETE /tokens/{token}": func(r Role) (string, any) {
				var tk Token
				e.decodeInto(e.mustDo("POST", "/tokens", e.tokens[r], CreateTokenRequest{Name: "x"}, 201), &tk)
				return "/tokens/" + tk.ID, nil
			},
		}
		for k, fx := range vcenterRBACFixtures(e, uniq) { // vcenters_test.go
			fixtures[k] = fx
		}
		success := map[string]int{"POST": 201, "DELETE": 204, "PUT": 200}
		covered := 0
		for _, rt := range e.svc.Routes() {
			if !rt.Mutating() || rt.perm == permPublic {
				continue
			}
			key := rt.Method + " " + rt.Path
			if rt.perm == permConfigServer {
				for _, tok := range e.tokens {
					e.expectError(rt.Method, rt.Path, tok, "{}", 401, "this endpoint needs a configuration server client certificate")
				}
				covered++
				continue
			}
			fx, ok := fixtures[key]
			if !ok {
				t.Fatalf("no RBAC fixture for %s", key)
			}
			covered++
			for _, role := range []Role{RoleOwner, RoleContributor, RoleOperator, RoleReader} {
				t.Run(strings.ReplaceAll(key, "/", "_")+"/"+string(role), func(t *testing.T) {
					e := e.with(t)
					path, body := fx(role)
					want := success[rt.Method]
					if rt.Method == "POST" && strings.HasSuffix(rt.Path, "/associations") {
						want = 200
					}
					if rt.Method == "POST" && strings.Contains(rt.Path, "/vcenters") {
						want = 202 // a request the configuration server carries out
					}
					if role.allows(rt.perm) {
						e.mustDo(rt.Method, path, e.tokens[role], body, want)
						return
					}
					before := e.snapshot()
					e.expectError(rt.Method, path, e.tokens[role], body, http.StatusForbidden, fmt.Sprintf("role %s may not do this (needs %s)", role, rt.Permission()))
					if e.snapshot() != before {
						t.Fatal("database changed after a 403")
					}
				})
			}
		}
		csRoutes := 0 // mutating configuration-server routes, checked above without fixtures
		for _, rt := range e.svc.Routes() {
			if rt.Mutating() && rt.perm == permConfigServer {
				csRoutes++
			}
		}
		if covered != len(fixtures)+csRoutes {
			t.Fatalf("covered %d routes, have %d fixtures", covered, len(fixtures))
		}
	})
}

// TestExtraRouteFailoverPermission: an operator may call a failover endpoint another package adds;
// a reader may not.
func TestExtraRouteFailoverPermission(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.svc.cfg.ExtraRoutes = []ExtraRoute{{Method: "POST", Path: "/vaults/{vault}/failovers", Permission: "failover",
		Handler: func(ctx context.Context, r *http.Request) (int, any, error) {
			return 202, map[string]string{"by": ActorOf(ctx).User, "vault": r.PathValue("vault")}, nil
		}}}
	srv := httptest.NewTLSServer(e.svc.Handler())
	defer srv.Close()
	e.base, e.client = srv.URL+APIPrefix, srv.Client()
	if b := e.mustDo("POST", "/vaults/lab/failovers", e.tokens[RoleOperator], "{}", 202); !strings.Contains(string(b), `"by":"operator1"`) {
		t.Fatalf("operator: %s", b)
	}
	e.expectError("POST", "/vaults/lab/failovers", e.tokens[RoleReader], "{}", 403, "role reader may not do this (needs failover)")
	if _, err := New(Config{DB: filepath.Join(t.TempDir(), "x.db"), URLs: []string{"https://x"}, ExtraRoutes: []ExtraRoute{{Method: "GET", Path: "/x", Permission: "admin"}}}, Deps{}); err == nil || err.Error() != `vault: route GET /x has unknown permission "admin"` {
		t.Fatalf("unknown permission: %v", err)
	}
}

func TestActorCan(t *testing.T) {
	for _, tc := range []struct {
		role Role
		perm string
		want bool
	}{
		{RoleOwner, "owner", true}, {RoleContributor, "owner", false}, {RoleContributor, "write", true},
		{RoleOperator, "write", false}, {RoleOperator, "failover", true}, {RoleReader, "failover", false},
		{RoleReader, "read", true}, {RoleReader, "self", true}, {"", "read", false}, {RoleOwner, "bogus", false},
	} {
		if got := (Actor{Role: tc.role}).Can(tc.perm); got != tc.want {
			t.Errorf("%s can %s: %v, want %v", tc.role, tc.perm, got, tc.want)
		}
	}
}
