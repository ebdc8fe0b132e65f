package portal

import (
	"testing"
)

// TestRolesMatchTheAPI: the portal shows a button exactly when the API's permission for the
// endpoint behind it lets the role through.
func TestRolesMatchTheAPI(t *testing.T) {
	e := newEnv(t)
	perms := map[string]string{}
	for _, rt := range e.routes {
		perms[rt.Method+" "+rt.Path] = rt.Permission()
	}
	behind := map[string]string{
		actVaultCreate:  "POST /vaults",
		actVaultDelete:  "DELETE /vaults/{vault}",
		actRegKey:       "POST /vaults/{vault}/registration-keys",
		actTargetSet:    "PUT /vaults/{vault}/target",
		actPolicyCreate: "POST /vaults/{vault}/policies",
		actPolicyAssoc:  "POST /vaults/{vault}/policies/{policy}/associations",
		actReplEnable:   "POST /vaults/{vault}/protected-items",
		actReplDisable:  "DELETE /vaults/{vault}/protected-items/{machine}",
		actUsers:        "POST /users",
	}
	// Who passes each permission, as docs/api/openapi.yaml describes x-osr-permission.
	passes := map[string]map[string]bool{
		"write":    {"owner": true, "contributor": true},
		"owner":    {"owner": true},
		"failover": {"owner": true, "contributor": true, "operator": true},
	}
	for act, route := range behind {
		perm, ok := perms[route]
		if !ok {
			t.Errorf("%s: the API has no endpoint %s", act, route)
			continue
		}
		for _, role := range roles {
			if got, want := can(role, act), passes[perm][role]; got != want {
				t.Errorf("%s (%s, permission %s) for %s: portal shows it %v, the API allows it %v", act, route, perm, role, got, want)
			}
		}
	}
}
