package vault

import (
	"strings"
	"testing"
	"time"
)

// TestVCenterRequests: the API's vCenter requests travel in the desired state until the
// configuration server's inventory shows them done; the inventory's vCenters and VMs are listed.
func TestVCenterRequests(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		own, rd := e.tokens[RoleOwner], e.tokens[RoleReader]
		e.createVault("lab")
		e.expectError("POST", "/vaults/lab/vcenters", own, AddVCenterRequest{Name: "vc01", Address: "10.0.0.20", Account: "vc"}, 409, "vault lab has no configuration server: register one first")
		cs := e.register("lab", "cs1")
		desired := func() DesiredState {
			var ds DesiredState
			e.decodeInto(mustDoWith(e, cs.client, "GET", "/cs/desired-state", nil, 200), &ds)
			return ds
		}
		for _, tc := range []struct {
			req    AddVCenterRequest
			status int
			msg    string
		}{
			{AddVCenterRequest{Name: "vc 1", Address: "10.0.0.20", Account: "vc"}, 400, `vcenter name "vc 1" is not valid: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`},
			{AddVCenterRequest{Name: "vc01", Address: "10.0.0.20:443", Account: "vc"}, 400, `address "10.0.0.20:443" is not valid: want an IP address or a host name`},
			{AddVCenterRequest{Name: "vc01", Address: "10.0.0.20", Port: 70000, Account: "vc"}, 400, "port must be between 1 and 65535, got 70000"},
			{AddVCenterRequest{Name: "vc01", Address: "10.0.0.20"}, 400, "account is required: the name of a vcenter account of the configuration server (osr account add --type vcenter)"},
			{AddVCenterRequest{Name: "vc01", Address: "10.0.0.20", Account: "vc", Thumbprint: "zz"}, 400, `thumbprint "zz" is not valid: want the 64 hex digits of a SHA-256 thumbprint`},
			{AddVCenterRequest{Name: "vc01", Address: "10.0.0.20", Account: "vc", ConfigServer: "cs9"}, 404, "configuration server cs9 does not exist"},
		} {
			e.expectError("POST", "/vaults/lab/vcenters", own, tc.req, tc.status, tc.msg)
		}
		e.expectError("POST", "/vaults/lab/vcenters", rd, AddVCenterRequest{Name: "vc01", Address: "10.0.0.20", Account: "vc"}, 403, "role reader may not do this (needs write)")

		v0 := desired().Version
		var view VCenterView
		e.decodeInto(e.mustDo("POST", "/vaults/lab/vcenters", own, AddVCenterRequest{Name: "vc01", Address: "10.0.0.20", Account: "vc"}, 202), &view)
		if view.Status != VCenterUnknown || view.Pending != "add" || view.ConfigServer != "cs1" || view.Port != 443 {
			t.Fatalf("added: %+v", view)
		}
		e.expectError("POST", "/vaults/lab/vcenters", own, AddVCenterRequest{Name: "vc01", Address: "10.0.0.21", Account: "vc"}, 409, "vcenter vc01 already exists (configuration server cs1)")
		e.expectError("POST", "/vaults/lab/vcenters", own, AddVCenterRequest{Name: "vc02", Address: "10.0.0.20", Account: "vc"}, 409, "vcenter vc02: 10.0.0.20:443 is already added as vc01")
		ds := desired()
		if ds.Version <= v0 || len(ds.VCenters) != 1 || ds.VCenters[0] != (DesiredVCenter{Name: "vc01", Action: "add", Address: "10.0.0.20", Port: 443, Account: "vc"}) {
			t.Fatalf("desired %d %+v", ds.Version, ds.VCenters)
		}

		// The configuration server adds it: not done before its first sync was tried.
		mustDoWith(e, cs.client, "PUT", "/cs/inventory", Inventory{Machines: []Machine{}, VCenters: []VCenterReport{{Name: "vc01", Address: "10.0.0.20", Port: 443, Account: "vc", Status: VCenterUnknown}}}, 204)
		if e.decodeInto(e.mustDo("GET", "/vaults/lab/vcenters/vc01", rd, nil, 200), &view); view.Pending != "add" || view.Status != VCenterUnknown {
			t.Fatalf("added, not synced: %+v", view)
		}
		// Its first sync fails on the credentials.
		at := e.clk.Now().UTC().Truncate(time.Second)
		rep := VCenterReport{Name: "vc01", Address: "10.0.0.20", Port: 443, Account: "vc", Thumbprint: strings.Repeat("AB:", 31) + "AB",
			Status: VCenterDisconnected, Error: "vcenter vc01: log in to 10.0.0.20:443 as ro: wrong user name or password", LastAttempt: &at}
		mustDoWith(e, cs.client, "PUT", "/cs/inventory", Inventory{Machines: []Machine{}, VCenters: []VCenterReport{rep}}, 204)
		e.decodeInto(e.mustDo("GET", "/vaults/lab/vcenters/vc01", rd, nil, 200), &view)
		if view.Status != VCenterDisconnected || view.Error != rep.Error || view.Pending != "" || view.Thumbprint != rep.Thumbprint {
			t.Fatalf("after report: %+v", view)
		}
		if ds := desired(); len(ds.VCenters) != 0 {
			t.Fatalf("desired after report %+v", ds.VCenters)
		}

		// Refresh: pending until the report says it is done; then VMs are listed as machines.
		e.decodeInto(e.mustDo("POST", "/vaults/lab/vcenters/vc01/refresh", own, nil, 202), &view)
		if view.Pending != "refresh" {
			t.Fatalf("refresh: %+v", view)
		}
		if ds := desired(); len(ds.VCenters) != 1 || ds.VCenters[0] != (DesiredVCenter{Name: "vc01", Action: "refresh", Refresh: 1}) {
			t.Fatalf("desired refresh %+v", ds.VCenters)
		}
		rep.Status, rep.Error, rep.Refreshed, rep.VMs, rep.LastSync = VCenterConnected, "", 1, 2, &at
		vm := func(name, power string) Machine {
			return Machine{Name: name, Source: "vcenter", VCenter: "vc01", VMName: strings.ToUpper(name), OS: "linux", GuestOS: "Debian GNU/Linux 12 (64-bit)",
				PowerState: power, Host: "esx1", Cluster: "c1", Addresses: []string{"10.0.1.5"}, Datastores: []string{"ds1"},
				Disks: []MachineDisk{{Name: "Hard disk 1", SizeBytes: 16 << 30, Datastore: "ds1", File: "[ds1] a/a.vmdk", Thin: true}}}
		}
		inv := Inventory{Machines: []Machine{vm("app01", "poweredOn"), vm("app02", "poweredOff"), {Name: "db01", Source: "agent"}}, VCenters: []VCenterReport{rep}}
		mustDoWith(e, cs.client, "PUT", "/cs/inventory", inv, 204)
		var ms []Machine
		e.decodeInto(e.mustDo("GET", "/vaults/lab/machines", rd, nil, 200), &ms)
		if len(ms) != 3 || ms[0].Source != "vcenter" || ms[0].VCenter != "vc01" || ms[0].VMName != "APP01" || ms[0].Disks[0].Datastore != "ds1" || ms[1].PowerState != "poweredOff" ||
			ms[2].Source != "physical" || !ms[2].Agent || ms[0].Agent {
			t.Fatalf("machines %+v", ms)
		}
		var vs []VCenterView
		e.decodeInto(e.mustDo("GET", "/vaults/lab/vcenters", rd, nil, 200), &vs)
		if len(vs) != 1 || vs[0].Status != VCenterConnected || vs[0].VMs != 2 || vs[0].Pending != "" || vs[0].LastSync == nil {
			t.Fatalf("vcenters %+v", vs)
		}
		// A VM removed in vCenter disappears with the next inventory.
		inv.Machines = inv.Machines[1:]
		mustDoWith(e, cs.client, "PUT", "/cs/inventory", inv, 204)
		e.decodeInto(e.mustDo("GET", "/vaults/lab/machines", rd, nil, 200), &ms)
		if len(ms) != 2 || ms[0].Name != "app02" {
			t.Fatalf("machines after removal %+v", ms)
		}

		// Bad reports change nothing.
		for _, tc := range []struct {
			inv Inventory
			msg string
		}{
			{Inventory{VCenters: []VCenterReport{{Name: "vc01", Address: "a", Port: 443, Status: "Fine"}}}, `vcenter vc01: status "Fine" is not Unknown, Connected or Disconnected`},
			{Inventory{VCenters: []VCenterReport{rep, rep}}, "vcenter vc01 is listed twice"},
			{Inventory{Machines: []Machine{{Name: "x", Source: "vcenter"}}}, "machine x: source vcenter needs the vcenter's name"},
		} {
			st, b := e.doWith(cs.client, "PUT", "/cs/inventory", "", tc.inv)
			if st != 400 || errorOf(t, b) != tc.msg {
				t.Errorf("%+v: %d %s, want %s", tc.inv, st, b, tc.msg)
			}
		}
		cs2 := e.register("lab", "cs2")
		st, b := e.doWith(cs2.client, "PUT", "/cs/inventory", "", Inventory{VCenters: []VCenterReport{rep}})
		if st != 409 || errorOf(t, b) != "vcenter vc01 is already in the inventory of configuration server cs1" {
			t.Fatalf("other cs: %d %s", st, b)
		}
		e.expectError("POST", "/vaults/lab/vcenters", own, AddVCenterRequest{Name: "vc03", Address: "10.0.0.30", Account: "vc"}, 400, "config_server is required: vault lab has 2 configuration servers")

		// Remove: pending until the configuration server stops reporting it, with its VMs.
		e.decodeInto(e.mustDo("DELETE", "/vaults/lab/vcenters/vc01", own, nil, 202), &view)
		if view.Pending != "remove" {
			t.Fatalf("remove: %+v", view)
		}
		e.expectError("POST", "/vaults/lab/vcenters/vc01/refresh", own, nil, 409, "vcenter vc01 is being removed")
		if ds := desired(); len(ds.VCenters) != 1 || ds.VCenters[0].Action != "remove" {
			t.Fatalf("desired remove %+v", ds.VCenters)
		}
		mustDoWith(e, cs.client, "PUT", "/cs/inventory", Inventory{Machines: []Machine{{Name: "db01", Source: "agent"}}}, 204)
		e.expectError("GET", "/vaults/lab/vcenters/vc01", rd, nil, 404, "vcenter vc01 does not exist in vault lab")
		e.decodeInto(e.mustDo("GET", "/vaults/lab/machines", rd, nil, 200), &ms)
		if len(ms) != 1 {
			t.Fatalf("machines after vCenter removal %+v", ms)
		}
		// A vCenter never reported is gone at once; a pending add survives inventories without it.
		e.mustDo("POST", "/vaults/lab/vcenters", own, AddVCenterRequest{Name: "vc04", Address: "10.0.0.40", Account: "vc", ConfigServer: "cs1"}, 202)
		mustDoWith(e, cs.client, "PUT", "/cs/inventory", Inventory{Machines: []Machine{}}, 204)
		e.mustDo("GET", "/vaults/lab/vcenters/vc04", rd, nil, 200)
		e.mustDo("DELETE", "/vaults/lab/vcenters/vc04", own, nil, 204)
		e.expectError("DELETE", "/vaults/lab/vcenters/vc04", own, nil, 404, "vcenter vc04 does not exist in vault lab")
	})
}

// vcenterRBACFixtures are the RBAC matrix's requests of the vCenter routes (rbac_test.go).
func vcenterRBACFixtures(e *env, uniq func(string) string) map[string]func(Role) (string, any) {
	own := e.tokens[RoleOwner]
	add := func() string {
		name := uniq("vc")
		e.mustDo("POST", "/vaults/lab/vcenters", own, AddVCenterRequest{Name: name, Address: name + ".lab", Account: "vc", ConfigServer: "cs1"}, 202)
		return name
	}
	return map[string]func(Role) (string, any){
		"POST /vaults/{vault}/vcenters": func(Role) (string, any) {
			name := uniq("vc")
			return "/vaults/lab/vcenters", AddVCenterRequest{Name: name, Address: name + ".lab", Account: "vc", ConfigServer: "cs1"}
		},
		"POST /vaults/{vault}/vcenters/{name}/refresh": func(Role) (string, any) { return "/vaults/lab/vcenters/" + add() + "/refresh", nil },
		"DELETE /vaults/{vault}/vcenters/{name}":       func(Role) (string, any) { return "/vaults/lab/vcenters/" + add(), nil },
	}
}

// TestPushErrorOnItem: a failed automatic push is the error of the machine's protected item while
// it waits for its agent; a later success clears it; the agent's reports take over.
func TestPushErrorOnItem(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		own := e.tokens[RoleOwner]
		cs := protectedSetup(t, e)
		e.mustDo("POST", "/vaults/lab/protected-items", own, EnableRequest{Machine: "web01", Policy: "gold"}, 201)
		at := e.clk.Now().UTC().Truncate(time.Second)
		pushErr := "machine web01: ssh login to 10.0.0.7:22 as root refused: wrong user name, password or key"
		inv := func(p *PushResult) {
			mustDoWith(e, cs.client, "PUT", "/cs/inventory", Inventory{Machines: []Machine{{Name: "web01", Source: "physical", Addresses: []string{"10.0.0.7"}, Push: p}, {Name: "db01", Source: "agent"}}}, 204)
		}
		item := func() ProtectedItem {
			var it ProtectedItem
			e.decodeInto(e.mustDo("GET", "/vaults/lab/protected-items/web01", own, nil, 200), &it)
			return it
		}
		inv(&PushResult{Time: at, Error: pushErr})
		if it := item(); it.State != StateEnabling || it.Error != "automatic push of the mobility service failed: "+pushErr {
			t.Fatalf("after a failed push: %+v", it)
		}
		inv(&PushResult{Time: at, Error: pushErr}) // the same again: one event
		var evs []Event
		e.decodeInto(e.mustDo("GET", "/events?vault=lab", own, nil, 200), &evs)
		n := 0
		for _, ev := range evs {
			if ev.Kind == "push-failed" && ev.Subject == "web01" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d push-failed events: %+v", n, evs)
		}
		inv(&PushResult{Time: at})
		if it := item(); it.Error != "" {
			t.Fatalf("after a successful push: %+v", it)
		}
	})
}
