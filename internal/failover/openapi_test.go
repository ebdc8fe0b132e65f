package failover

import (
	"testing"

	"github.com/opensiterecovery/osr/internal/vault/openapicheck"
)

// TestOpenAPIMatchesRoutes: docs/api/openapi.yaml documents exactly the failover routes (the operations marked x-osr-extra: failover), each with the
// permission the router enforces.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	openapicheck.Check{Spec: "../../docs/api/openapi.yaml", Extra: "failover", What: "failover routes"}.RunExtra(t, (&API{}).Routes())
}
