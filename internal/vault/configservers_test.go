package vault

import (
	"fmt"
	"sync"
	"testing"
)

func TestRemoveConfigServer(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		own := e.tokens[RoleOwner]
		cs := protectedSetup(t, e)
		e.mustDo("POST", "/vaults/lab/protected-items", own, EnableRequest{Machine: "web01", Policy: "gold"}, 201)
		e.expectError("DELETE", "/vaults/lab/config-servers/cs1", own, nil, 409, "configuration server cs1 still drives 1 protected items: disable their replication first")
		e.expectError("DELETE", "/vaults/lab/config-servers/cs9", own, nil, 404, "configuration server cs9 does not exist")
		e.mustDo("DELETE", "/vaults/lab/protected-items/web01", own, nil, 204)
		e.mustDo("DELETE", "/vaults/lab/config-servers/cs1", own, nil, 204)
		// Its certificate no longer opens the configuration-server endpoints.
		st, b := e.doWith(cs.client, "GET", "/cs/desired-state", "", nil)
		if st != 401 || errorOf(t, b) != "client certificate is not from a registered configuration server" {
			t.Fatalf("removed configuration server: %d %s", st, b)
		}
		var ms []Machine
		e.decodeInto(e.mustDo("GET", "/vaults/lab/machines", own, nil, 200), &ms)
		if len(ms) != 0 {
			t.Fatalf("inventory kept: %+v", ms)
		}
	})
}

// TestConcurrentEnable: concurrent enables of distinct machines all succeed; of one machine,
// exactly one does and the others get 409; never a 500.
func TestConcurrentEnable(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		own := e.tokens[RoleOwner]
		cs := protectedSetup(t, e)
		var machines []Machine
		for i := range 30 {
			machines = append(machines, Machine{Name: fmt.Sprintf("c%02d", i), Source: "agent"})
		}
		mustDoWith(e, cs.client, "PUT", "/cs/inventory", Inventory{Machines: machines}, 204)
		var wg sync.WaitGroup
		var mu sync.Mutex
		count := map[int]int{}
		for i := range 40 {
			m := fmt.Sprintf("c%02d", i)
			if i >= 30 {
				m = "c00"
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, _ := e.do("POST", "/vaults/lab/protected-items", own, EnableRequest{Machine: m, Policy: "gold"})
				mu.Lock()
				count[st]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if count[201] != 30 || count[409] != 10 || len(count) != 2 {
			t.Fatalf("statuses: %v", count)
		}
		var ds DesiredState
		e.decodeInto(mustDoWith(e, cs.client, "GET", "/cs/desired-state", nil, 200), &ds)
		if len(ds.Items) != 30 || ds.Version != 1+30 {
			t.Fatalf("desired state: version %d, %d items", ds.Version, len(ds.Items))
		}
	})
}
