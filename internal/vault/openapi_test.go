package vault_test

import (
	"testing"

	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/openapicheck"
)

// TestOpenAPIMatchesRoutes: docs/api/openapi.yaml documents exactly the registered routes, each
// with the permission the router enforces (operations marked x-osr-extra are served through
// ExtraRoutes and checked by their packages).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	registered := map[string]string{}
	for _, rt := range (&vault.Service{}).Routes() {
		registered[rt.Method+" "+rt.Path] = rt.Permission()
	}
	openapicheck.Check{Spec: "../../docs/api/openapi.yaml", What: "routes"}.Run(t, registered)
}
