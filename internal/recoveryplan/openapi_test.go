package recoveryplan

import (
	"testing"

	"github.com/opensiterecovery/osr/internal/vault/openapicheck"
)

// TestOpenAPIMatchesRoutes: docs/api/openapi.yaml documents exactly these routes (the operations marked x-osr-extra: recovery-plans), each with the
// permission the router enforces.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	openapicheck.Check{Spec: "../../docs/api/openapi.yaml", Extra: "recovery-plans", What: "routes"}.RunExtra(t, (&API{}).Routes())
}
