package vault

import (
	"fmt"
	"testing"

	"github.com/opensiterecovery/osr/internal/vault/db"
)

// BenchmarkListItems1000 is the sequential cost of one "list replicated items" of 1,000 items over
// HTTPS (SQLite), the service time behind BenchmarkControlPlane's latencies.
func BenchmarkListItems1000(b *testing.B) {
	e := newEnv(b, db.SQLite)
	protectedSetup(b, e)
	own := e.tokens[RoleOwner]
	cs := e.register("lab", "cs-bench")
	var machines []Machine
	for i := range 1000 {
		machines = append(machines, Machine{Name: fmt.Sprintf("m%04d", i), Source: "agent"})
	}
	mustDoWith(e, cs.client, "PUT", "/cs/inventory", Inventory{Machines: machines}, 204)
	e.mustDo("POST", "/vaults/lab/policies/gold/associations", own, AssociateRequest{ConfigServer: "cs-bench"}, 200)
	for i := range 1000 {
		e.mustDo("POST", "/vaults/lab/protected-items", own, EnableRequest{Machine: fmt.Sprintf("m%04d", i), Policy: "gold"}, 201)
	}
	b.ResetTimer()
	for range b.N {
		e.mustDo("GET", "/vaults/lab/protected-items", own, nil, 200)
	}
}
