package drill

import (
	"testing"

	"github.com/opensiterecovery/osr/internal/vault/openapicheck"
)

// TestOpenAPIMatchesRoutes: docs/api/openapi.yaml documents exactly these routes (the operations marked x-osr-extra: drills), each with the
// permission the router enforces.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	openapicheck.Check{Spec: "../../docs/api/openapi.yaml", Extra: "drills", What: "routes"}.RunExtra(t, (&API{}).Routes())
}
