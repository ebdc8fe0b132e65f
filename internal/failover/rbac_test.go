package failover

import (
	"strings"
	"testing"

	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

// TestRoles: a reader gets 403 on every route that is not read-only; an operator may fail over
// but not change the setup (mappings, targets, NIC settings).
func TestRoles(t *testing.T) {
	e := newEnv(t, db.SQLite)
	api := &API{}
	path := func(p string) string {
		r := strings.NewReplacer("{vault}", "lab", "{machine}", "web01", "{network}", "prod-net", "{target}", "local1", "{nic}", "eth0")
		return r.Replace(p)
	}
	before := e.snapshot()
	n := 0
	for _, rt := range api.Routes() {
		if rt.Permission == "read" {
			e.mustDo(rt.Method, path(rt.Path), e.tokens[vault.RoleReader], nil, 200)
			continue
		}
		e.expectError(rt.Method, path(rt.Path), e.tokens[vault.RoleReader], nil, 403, "role reader may not do this (needs "+rt.Permission+")")
		if rt.Permission == "write" {
			e.expectError(rt.Method, path(rt.Path), e.op(), nil, 403, "role operator may not do this (needs write)")
		}
		n++
	}
	if n != 11 {
		t.Fatalf("%d routes checked, want 11", n)
	}
	if after := e.snapshot(); after != before {
		t.Fatalf("refused requests changed the database:\n%s", diffLines(before, after))
	}
	// The contributor sets up, the operator fails over (other tests), the owner may do both.
	e.mustDo("PUT", "/vaults/lab/protected-items/web01/nics/eth0", e.tokens[vault.RoleContributor], SetNICRequest{IPMode: "static", Address: "192.168.50.10/24", Gateway: "192.168.50.1"}, 200)
	op := e.startOp("web01/failover/test", TestRequest{})
	e.waitJob(op.Job.ID)
	n0 := e.status("web01").Test.Definition.NICs[0]
	if n0.IPMode != "static" || n0.Address != "192.168.50.10/24" || n0.Gateway != "192.168.50.1" || n0.Network != "test-net" {
		t.Fatalf("static NIC %+v", n0)
	}
}
