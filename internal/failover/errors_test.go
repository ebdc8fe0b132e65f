package failover

import (
	"context"
	"strings"
	"testing"

	"github.com/opensiterecovery/osr/internal/vault"
)

// TestBadInputChangesNothing: every refused request answers its exact error and leaves the
// database as it was.
func TestBadInputChangesNothing(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		pts := e.pointIDs()
		partial := ""
		all, _ := e.repo.Points(context.Background(), "web01")
		for _, p := range all {
			if p.Partial {
				partial = p.ID
			}
		}
		owner := e.tokens[vault.RoleOwner]
		item := "/vaults/lab/protected-items/"
		cases := []struct {
			name, method, path, token string
			body                      any
			status                    int
			msg                       string
			before                    func()
		}{
			{"unknown point", "POST", item + "web01/failover/run", e.op(), FailoverRequest{Point: "deadbeef00"}, 404, "machine web01 has no recovery point deadbeef00", nil},
			{"unknown point in a test", "POST", item + "web01/failover/test", e.op(), TestRequest{Point: "0123456789abcdef"}, 404, "machine web01 has no recovery point 0123456789abcdef", nil},
			{"partial point", "POST", item + "web01/failover/test", e.op(), TestRequest{Point: partial}, 404, "machine web01 has no recovery point " + partial, nil},
			{"time before every point", "POST", item + "web01/failover/run", e.op(), FailoverRequest{Point: "2026-12-01T08:00:00Z"}, 404, "machine web01 has no recovery point at or before 2026-12-01T08:00:00Z", nil},
			{"bad point reference", "POST", item + "web01/failover/run", e.op(), FailoverRequest{Point: "newest"}, 400, `point "newest" is not latest, latest-processed, latest-app-consistent, a point ID (at least 8 hex digits) or an RFC 3339 time`, nil},
			{"short prefix", "POST", item + "web01/failover/run", e.op(), FailoverRequest{Point: pts[0][:6]}, 400, `point "` + pts[0][:6] + `" is not latest, latest-processed, latest-app-consistent, a point ID (at least 8 hex digits) or an RFC 3339 time`, nil},
			{"machine not protected", "POST", item + "db02/failover/run", e.op(), FailoverRequest{}, 404, "machine db02 is not protected", nil},
			{"machine not protected, test", "POST", item + "db02/failover/test", e.op(), nil, 404, "machine db02 is not protected", nil},
			{"machine unknown", "POST", item + "nosuch/failover/test", e.op(), nil, 404, "machine nosuch is not protected", nil},
			{"initial replication", "POST", item + "app03/failover/run", e.op(), nil, 409, "machine app03 is not protected yet (initial-replication): it has no complete recovery point for a failover", nil},
			{"unknown vault", "POST", "/vaults/nope/protected-items/web01/failover/run", e.op(), nil, 404, "vault nope does not exist", nil},
			{"unknown target", "POST", item + "web01/failover/test", e.op(), TestRequest{Target: "t9"}, 404, "target t9 does not exist", nil},
			{"planned with another point", "POST", item + "web01/failover/run", e.op(), FailoverRequest{Point: pts[0], ShutdownSource: true}, 400, "a planned failover (shutdown_source) fails over from its final sync: give point latest or none", nil},
			{"bad test network", "POST", item + "web01/failover/test", e.op(), TestRequest{Network: " x"}, 400, `network " x" is not a valid network name: use 1 to 127 letters, digits, spaces and . _ : ( ) -, starting with a letter or digit`, nil},
			{"unknown field", "POST", item + "web01/failover/run", e.op(), `{"pointt":"latest"}`, 400, `request body has an unknown field "pointt"`, nil},
			{"not json", "POST", item + "web01/failover/run", e.op(), `{"point":`, 400, "request body is not valid JSON: unexpected EOF", nil},
			{"commit before failover", "POST", item + "web01/failover/commit", e.op(), nil, 409, "machine web01 is not failed over (protected): fail it over first (osr failover run web01)", nil},
			{"change point before failover", "POST", item + "web01/failover/change-point", e.op(), ChangePointRequest{Point: pts[0]}, 409, "machine web01 is not failed over (protected): change-point applies to a failover not yet committed", nil},
			{"complete before failover", "POST", item + "web01/migration/complete", e.op(), nil, 409, "machine web01 is not failed over (protected): fail it over first (osr failover run web01)", nil},
			{"cleanup without test", "POST", item + "web01/failover/test/cleanup", e.op(), nil, 404, "machine web01 has no test failover", nil},
			{"mapping taken", "POST", "/vaults/lab/network-mappings", owner, AddMappingRequest{SourceNetwork: "prod-net", TargetNetwork: "a", TestNetwork: "b"}, 409, "network prod-net is mapped already: remove its mapping first", nil},
			{"mapping test = target", "POST", "/vaults/lab/network-mappings", owner, AddMappingRequest{SourceNetwork: "n2", TargetNetwork: "a", TestNetwork: "a"}, 400, "test_network must differ from target_network: a test failover must not reach production", nil},
			{"mapping without test network", "POST", "/vaults/lab/network-mappings", owner, AddMappingRequest{SourceNetwork: "n2", TargetNetwork: "a"}, 400, "test_network is required: test failovers go to an isolated network", nil},
			{"mapping static", "POST", "/vaults/lab/network-mappings", owner, AddMappingRequest{SourceNetwork: "n2", TargetNetwork: "a", TestNetwork: "b", IPMode: "static"}, 400, `ip_mode "static" is not keep or dhcp (static addresses are set per NIC)`, nil},
			{"remove unmapped", "DELETE", "/vaults/lab/network-mappings/n9", owner, nil, 404, "network n9 is not mapped", nil},
			{"target provider unknown", "POST", "/vaults/lab/targets", owner, AddTargetRequest{Name: "t2", Provider: "vmware"}, 400, `target provider "vmware" is not known (flaky, gated, local)`, nil},
			{"target settings bad", "POST", "/vaults/lab/targets", owner, AddTargetRequest{Name: "t2", Provider: "local", Settings: map[string]string{"dir": "/x", "color": "red"}}, 400, `target t2: local target: unknown setting "color" (dir, format)`, nil},
			{"target dir relative", "POST", "/vaults/lab/targets", owner, AddTargetRequest{Name: "t2", Provider: "local", Settings: map[string]string{"dir": "out"}}, 400, `target t2: local target: dir "out" is not an absolute path`, nil},
			{"target taken", "POST", "/vaults/lab/targets", owner, AddTargetRequest{Name: "local1", Provider: "local", Settings: map[string]string{"dir": e.out}}, 409, "target local1 exists already", nil},
			{"target name", "POST", "/vaults/lab/targets", owner, AddTargetRequest{Name: "T 1", Provider: "local"}, 400, `target name "T 1" is not valid: use 1 to 63 characters a-z, 0-9, '.', '-', starting with a letter or digit`, nil},
			{"nic static without prefix", "PUT", item + "web01/nics/eth0", owner, SetNICRequest{IPMode: "static", Address: "10.1.0.5"}, 400, `address "10.1.0.5" is not an address with its prefix length (CIDR, for example 10.1.0.5/24)`, nil},
			{"nic gateway outside", "PUT", item + "web01/nics/eth0", owner, SetNICRequest{IPMode: "static", Address: "10.1.0.5/24", Gateway: "10.2.0.1"}, 400, "gateway 10.2.0.1 is not in 10.1.0.0/24", nil},
			{"nic dhcp with address", "PUT", item + "web01/nics/eth0", owner, SetNICRequest{IPMode: "dhcp", Address: "10.1.0.5/24"}, 400, "address and gateway apply to ip_mode static only", nil},
			{"nic of unprotected machine", "PUT", item + "db02/nics/eth0", owner, SetNICRequest{IPMode: "dhcp"}, 404, "machine db02 is not protected", nil},
			// last: they change the setup first (outside the snapshot)
			{"network not mapped", "POST", item + "web01/failover/run", e.op(), nil, 409, `network prod-net of nic eth0 of machine web01 is not mapped: add a network mapping for it (osr network-mapping add --source-network "prod-net" ...)`,
				func() { e.mustDo("DELETE", "/vaults/lab/network-mappings/prod-net", owner, nil, 204) }},
			{"network not mapped, test", "POST", item + "web01/failover/test", e.op(), nil, 409, `network prod-net of nic eth0 of machine web01 is not mapped: add a network mapping for it (osr network-mapping add --source-network "prod-net" ...)`, nil},
			{"no target", "POST", item + "web01/failover/test", e.op(), nil, 409, "vault lab has no failover target: add one (osr target add)",
				func() {
					e.mustDo("POST", "/vaults/lab/network-mappings", owner, AddMappingRequest{SourceNetwork: "prod-net", TargetNetwork: "dr-net", TestNetwork: "test-net"}, 201)
					e.mustDo("DELETE", "/vaults/lab/targets/local1", owner, nil, 204)
				}},
			{"two targets", "POST", item + "web01/failover/test", e.op(), nil, 400, "vault lab has 2 failover targets (a1, a2): choose one",
				func() {
					e.mustDo("POST", "/vaults/lab/targets", owner, AddTargetRequest{Name: "a1", Provider: "local", Settings: map[string]string{"dir": e.out}}, 201)
					e.mustDo("POST", "/vaults/lab/targets", owner, AddTargetRequest{Name: "a2", Provider: "local", Settings: map[string]string{"dir": e.out + "2"}}, 201)
				}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if c.before != nil {
					c.before()
				}
				e2 := *e
				e2.t = t
				before := e2.snapshot()
				e2.expectError(c.method, c.path, c.token, c.body, c.status, c.msg)
				if after := e2.snapshot(); after != before {
					t.Fatalf("the database changed:\n%s", diffLines(before, after))
				}
			})
		}
	})
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	in := map[string]bool{}
	for _, l := range al {
		in[l] = true
	}
	var out []string
	for _, l := range bl {
		if !in[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// TestConcurrentOperations: while an operation runs on a machine every other one gets 409 with
// the running job named; nothing is changed by the refused ones.
func TestConcurrentOperations(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		owner := e.tokens[vault.RoleOwner]
		e.mustDo("POST", "/vaults/lab/targets", owner, AddTargetRequest{Name: "slow", Provider: "gated", Settings: map[string]string{"dir": e.out}}, 201)
		op := e.startOp("web01/failover/test", TestRequest{Target: "slow"})
		<-e.gate.entered
		msg := "machine web01 has a test-failover running (job " + op.Job.ID + "): wait for it to end"
		before := e.snapshot()
		e.expectError("POST", "/vaults/lab/protected-items/web01/failover/test", e.op(), TestRequest{Target: "local1"}, 409, msg)
		e.expectError("POST", "/vaults/lab/protected-items/web01/failover/run", e.op(), FailoverRequest{Target: "local1"}, 409, msg)
		e.expectError("POST", "/vaults/lab/protected-items/web01/failover/commit", e.op(), nil, 409, msg)
		e.expectError("POST", "/vaults/lab/protected-items/web01/failover/test/cleanup", e.op(), nil, 409, msg)
		if after := e.snapshot(); after != before {
			t.Fatalf("the database changed:\n%s", diffLines(before, after))
		}
		if st := e.status("web01"); st.Running == nil || st.Running.JobID != op.Job.ID || st.Running.Operation != JobTestFailover {
			t.Fatalf("running %+v", st.Running)
		}
		e.expectError("DELETE", "/vaults/lab/targets/slow", owner, nil, 409, "target slow holds the test failover of machine web01: finish it first")
		e.gate.open()
		if j := e.waitJob(op.Job.ID); j.State != vault.JobSucceeded {
			t.Fatalf("job %+v", j)
		}
		// Now a failover may run beside the test failover's machine.
		f := e.startOp("web01/failover/run", FailoverRequest{Target: "local1"})
		if j := e.waitJob(f.Job.ID); j.State != vault.JobSucceeded {
			t.Fatalf("failover job %+v", j)
		}
	})
}
