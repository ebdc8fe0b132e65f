package vault

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/store"
)

// protectedSetup: vault lab, cs1 with ps1 and machine web01 in its inventory, policy gold
// associated.
func protectedSetup(t testing.TB, e *env) *csIdentity {
	own := e.tokens[RoleOwner]
	e.createVault("lab")
	cs := e.register("lab", "cs1")
	now := e.clk.Now()
	mustDoWith(e, cs.client, "POST", "/cs/heartbeat", Heartbeat{Time: now, ProcessServers: []PSHealth{{Name: "ps1", LastSeen: now, CacheFreePercent: 90}}, Agents: []AgentStatus{{Machine: "web01", LastSeen: now}}}, 200)
	mustDoWith(e, cs.client, "PUT", "/cs/inventory", Inventory{Machines: []Machine{{Name: "web01", Source: "agent"}, {Name: "db01", Source: "agent"}}}, 204)
	e.mustDo("POST", "/vaults/lab/policies", own, CreatePolicyRequest{Name: "gold"}, 201)
	e.mustDo("POST", "/vaults/lab/policies", own, CreatePolicyRequest{Name: "silver"}, 201)
	e.mustDo("POST", "/vaults/lab/policies/gold/associations", own, AssociateRequest{ConfigServer: "cs1"}, 200)
	return cs
}

func TestReplicationStateMachine(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		own := e.tokens[RoleOwner]
		cs := protectedSetup(t, e)
		for _, tc := range []struct {
			name   string
			req    EnableRequest
			status int
			msg    string
		}{
			{"not in inventory", EnableRequest{Machine: "app9", Policy: "gold"}, 404, "machine app9 is not in the inventory of any configuration server of vault lab"},
			{"no policy", EnableRequest{Machine: "web01"}, 400, "policy is required"},
			{"unknown policy", EnableRequest{Machine: "web01", Policy: "bronze"}, 404, "policy bronze does not exist"},
			{"twin", EnableRequest{Machine: "web01", Policy: "gold-failback"}, 409, "policy gold-failback is a failback twin, used for failback only"},
			{"not associated", EnableRequest{Machine: "web01", Policy: "silver"}, 409, "policy silver is not associated with configuration server cs1 (osr policy associate)"},
			{"unknown ps", EnableRequest{Machine: "web01", Policy: "gold", ProcessServer: "ps9"}, 404, "process server ps9 is not known to configuration server cs1"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.with(t)
				before := e.snapshot()
				e.expectError("POST", "/vaults/lab/protected-items", own, tc.req, tc.status, tc.msg)
				if e.snapshot() != before {
					t.Fatal("database changed")
				}
			})
		}
		var it ProtectedItem
		e.decodeInto(e.mustDo("POST", "/vaults/lab/protected-items", own, EnableRequest{Machine: "web01", Policy: "gold", ProcessServer: "ps1"}, 201), &it)
		if it.State != StateEnabling || it.Policy != "gold" || it.ConfigServer != "cs1" || it.ProcessServer != "ps1" {
			t.Fatalf("enabled: %+v", it)
		}
		e.expectError("POST", "/vaults/lab/protected-items", own, EnableRequest{Machine: "web01", Policy: "gold"}, 409, "machine web01 is already protected")
		e.expectError("DELETE", "/vaults/lab", own, nil, 409, "vault lab still protects 1 items: disable their replication first")
		e.expectError("DELETE", "/vaults/lab/policies/gold", own, nil, 409, "policy gold is used by 1 protected items")
		var ds DesiredState
		e.decodeInto(mustDoWith(e, cs.client, "GET", "/cs/desired-state", nil, 200), &ds)
		if ds.Version != 2 || len(ds.Items) != 1 || ds.Items[0] != (DesiredItem{Machine: "web01", ProcessServer: "ps1", Policy: PolicyCadence{Name: "gold", RPOThresholdSeconds: 900, RetentionSeconds: 86400, AppConsistentSeconds: 3600, CrashConsistentSeconds: 300}}) {
			t.Fatalf("desired: %+v", ds)
		}
		report := func(r ItemReport) {
			t.Helper()
			now := e.clk.Now()
			mustDoWith(e, cs.client, "POST", "/cs/heartbeat", Heartbeat{Time: now, ProcessServers: []PSHealth{{Name: "ps1", LastSeen: now, CacheFreePercent: 90}}, Agents: []AgentStatus{{Machine: "web01", LastSeen: now}}, Items: []ItemReport{r}}, 200)
		}
		job := func() Job {
			t.Helper()
			var jobs []Job
			e.decodeInto(e.mustDo("GET", "/jobs?vault=lab", own, nil, 200), &jobs)
			for _, j := range jobs {
				if j.Kind == "enable-replication" {
					return j
				}
			}
			t.Fatal("no enable-replication job")
			return Job{}
		}
		report(ItemReport{Machine: "web01", State: StateInitialReplication, InitialPercent: 42.5})
		e.decodeInto(e.mustDo("GET", "/vaults/lab/protected-items/web01", own, nil, 200), &it)
		if it.State != StateInitialReplication || it.InitialPercent != 42.5 || it.LastPointTime != nil {
			t.Fatalf("initial: %+v", it)
		}
		if j := job(); j.State != JobRunning || j.Progress != 42.5 {
			t.Fatalf("job: %+v", j)
		}
		pt := e.clk.Now().Add(-time.Minute)
		report(ItemReport{Machine: "web01", State: StateProtected, InitialPercent: 100, LastPointTime: &pt, LastPointID: "p1"})
		e.decodeInto(e.mustDo("GET", "/vaults/lab/protected-items/web01", own, nil, 200), &it)
		if it.State != StateProtected || it.LastPointID != "p1" || *it.RPOSeconds != 60 {
			t.Fatalf("protected: %+v", it)
		}
		if j := job(); j.State != JobSucceeded || j.Progress != 100 || j.Result != "protected" {
			t.Fatalf("job: %+v", j)
		}
		report(ItemReport{Machine: "web01", State: StateResynchronising, LastPointTime: &pt, LastPointID: "p1", Error: ""})
		report(ItemReport{Machine: "web01", State: StateError, LastPointTime: &pt, Error: "process server ps1 unreachable"})
		e.decodeInto(e.mustDo("GET", "/vaults/lab/protected-items/web01", own, nil, 200), &it)
		if it.State != StateError || it.Error != "process server ps1 unreachable" || it.LastPointID != "p1" {
			t.Fatalf("error: %+v", it)
		}
		report(ItemReport{Machine: "web01", State: StateProtected, LastPointTime: &pt, LastPointID: "p1"})
		var evs []Event
		e.decodeInto(e.mustDo("GET", "/events?vault=lab", own, nil, 200), &evs)
		var msgs []string
		for i := len(evs) - 1; i >= 0; i-- {
			if evs[i].Kind == "item-state" {
				msgs = append(msgs, evs[i].Severity+" "+evs[i].Message)
			}
		}
		want := "info web01: enabling → initial-replication|info web01: initial-replication → protected|warning web01: protected → resynchronising|critical web01: resynchronising → error: process server ps1 unreachable|info web01: error → protected"
		if strings.Join(msgs, "|") != want {
			t.Fatalf("events:\n%s\nwant\n%s", strings.Join(msgs, "|"), want)
		}
		var items []ProtectedItem
		e.decodeInto(e.mustDo("GET", "/vaults/lab/protected-items", e.tokens[RoleReader], nil, 200), &items)
		if len(items) != 1 || items[0].State != StateProtected || items[0].Error != "" {
			t.Fatalf("items: %+v", items)
		}
		e.mustDo("DELETE", "/vaults/lab/protected-items/web01", own, nil, 204)
		e.expectError("GET", "/vaults/lab/protected-items/web01", own, nil, 404, "machine web01 is not protected")
		e.expectError("DELETE", "/vaults/lab/protected-items/web01", own, nil, 404, "machine web01 is not protected")
		e.decodeInto(mustDoWith(e, cs.client, "GET", "/cs/desired-state", nil, 200), &ds)
		if ds.Version != 3 || len(ds.Items) != 0 {
			t.Fatalf("desired after disable: %+v", ds)
		}
	})
}

func TestRecoveryPoints(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		own := e.tokens[RoleOwner]
		v := e.createVault("lab")
		ctx := context.Background()
		vv, _ := e.svc.vaultByName(ctx, v.Name)
		r, err := e.svc.repo(ctx, vv)
		if err != nil {
			t.Fatal(err)
		}
		disk := make([]byte, 64<<10)
		put := func(parent *store.Point, meta store.CommitMeta, fill byte) *store.Point {
			w, err := r.NewWriter(ctx, "web01", parent, []store.DiskSpec{{Name: "sda", Size: int64(len(disk))}})
			if err != nil {
				t.Fatal(err)
			}
			disk[0] = fill
			if _, err := w.Disk("sda").WriteAt(disk, 0); err != nil {
				t.Fatal(err)
			}
			p, err := w.Commit(ctx, meta)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		t0 := e.clk.Now().Add(-time.Hour)
		partial := put(nil, store.CommitMeta{Time: t0, Partial: true}, 1)
		p1 := put(partial, store.CommitMeta{Time: t0.Add(time.Minute), Consistency: store.CrashConsistent}, 2)
		p2 := put(p1, store.CommitMeta{Time: t0.Add(2 * time.Minute), Consistency: store.AppConsistent}, 3)
		var rps []RecoveryPoint
		e.decodeInto(e.mustDo("GET", "/vaults/lab/protected-items/web01/recovery-points", e.tokens[RoleReader], nil, 200), &rps)
		if len(rps) != 2 || rps[0].ID != p2.ID || rps[0].Consistency != "app" || rps[1].ID != p1.ID || rps[1].Consistency != "crash" || rps[0].Disks[0] != "sda" || !rps[1].Time.Equal(t0.Add(time.Minute)) {
			t.Fatalf("points: %+v", rps)
		}
		e.decodeInto(e.mustDo("GET", "/vaults/lab/protected-items/db01/recovery-points", own, nil, 200), &rps)
		if len(rps) != 0 {
			t.Fatalf("points of db01: %+v", rps)
		}
		e.expectError("GET", "/vaults/lab/protected-items/DB!/recovery-points", own, nil, 400, `machine name "DB!" is not valid: use 1 to 63 characters a-z, 0-9, '.', '-', starting with a letter or digit`)
	})
}
