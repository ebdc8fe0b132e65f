package portal

import (
	"html"
	"net/http"
	"net/url"
	"testing"

	"github.com/opensiterecovery/osr/internal/vault"
)

// TestVCentersPage: the vCenters page lists the vault's vCenters with status and error, and every
// machine with its vCenter fields; its add form, refresh and remove buttons go through the API
// (pending until the configuration server carries them out); a reader sees no controls and the
// API's errors are shown as they are.
func TestVCentersPage(t *testing.T) {
	e := newEnv(t)
	vid := e.vault(t, "lab")
	e.policy(t, vid, "gold")
	e.protect(t, vid, "web01", "gold")
	v := "/vaults/" + vid
	owner := newWebClient(t, e.url, e.tls)
	tok := owner.login("owner1", password("owner"))

	a := owner.post(v+"/vcenters", url.Values{"csrf": {tok}, "name": {"vc01"}, "address": {"10.0.0.20"}, "port": {"443"}, "account": {"vc-ro"}})
	if a.Status != http.StatusSeeOther {
		t.Fatalf("add: %d\n%s", a.Status, a.Body)
	}
	a = owner.get(v + "/vcenters?done=added&name=vc01")
	mustContain(t, "after add", a.Body, "vCenter vc01 was added", "<td>vc01", "Unknown</span> <small>(add pending)</small>", "<code>10.0.0.20:443</code>", "<td>vc-ro</td>", "not pinned yet")
	a = owner.post(v+"/vcenters", url.Values{"csrf": {tok}, "name": {"vc02"}, "address": {"10.0.0.20"}, "port": {"443"}, "account": {"vc-ro"}})
	if a.Status != http.StatusConflict {
		t.Fatalf("duplicate address: %d", a.Status)
	}
	mustContain(t, "duplicate", a.Body, html.EscapeString("vcenter vc02: 10.0.0.20:443 is already added as vc01"), `value="vc02"`)
	a = owner.post(v+"/vcenters", url.Values{"csrf": {tok}, "name": {"vc03"}, "address": {"a"}, "port": {"x"}, "account": {"vc-ro"}})
	mustContain(t, "bad port", a.Body, "port must be a number between 1 and 65535")

	// The configuration server reports the vCenter with one VM; the page shows both.
	tp := "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
	now := e.clock.Now()
	e.inventory(t, vid, vault.Inventory{
		Machines: []vault.Machine{{Name: "web01", Source: "agent", OS: "linux"}, {Name: "db02", Source: "physical", Addresses: []string{"10.0.0.8"},
			Push: &vault.PushResult{Time: now, Error: "machine db02: connect to 10.0.0.8:22: connect: no route to host"}}, {Name: "app-01", Source: "vcenter", VCenter: "vc01", VMName: "App_01",
			GuestOS: "Debian GNU/Linux 12 (64-bit)", PowerState: "poweredOn", Host: "esx1", Cluster: "prod", Datastores: []string{"ds1"},
			Addresses: []string{"10.0.1.5"}, Disks: []vault.MachineDisk{{Name: "Hard disk 1", SizeBytes: 16 << 30}}, Hardware: &vault.Hardware{CPUs: 2, MemoryMB: 4096}}},
		VCenters: []vault.VCenterReport{{Name: "vc01", Address: "10.0.0.20", Port: 443, Account: "vc-ro", Thumbprint: tp, Status: "Connected", About: "VMware vCenter Server 8.0.3", VMs: 1, LastSync: &now}},
	})
	reader := newWebClient(t, e.url, e.tls)
	reader.login("reader1", password("reader"))
	a = reader.get(v + "/vcenters")
	mustContain(t, "reader", a.Body, "VMware vCenter Server 8.0.3", `<span class="badge ok">Connected</span>`, tp, "app-01<br><small class=\"muted\">App_01</small>",
		"vCenter vc01", "poweredOn", "Debian GNU/Linux 12 (64-bit)", "10.0.1.5", "esx1<br><small class=\"muted\">prod</small>", "2 vCPU, 4096 MiB",
		"1 · 16.0 GiB", "web01", `<span class="badge ok">registered</span>`, "Physical", "none (pushed when replication is enabled)",
		`<span class="badge crit">push failed</span><br><small class="crit">machine db02: connect to 10.0.0.8:22: connect: no route to host</small>`)
	mustNotContain(t, "reader", a.Body, "Add vCenter", "Refresh vCenter vc01")
	if p := reader.post(v+"/vcenters/vc01/refresh", url.Values{"csrf": {csrf(t, a.Body)}}); p.Status != http.StatusForbidden {
		t.Fatalf("reader refresh: %d", p.Status)
	}
	a = owner.get(v + "/vcenters/table")
	mustContain(t, "partial", a.Body, `hx-get="`+v+`/vcenters/table"`, "Refresh vCenter vc01")

	if a = owner.post(v+"/vcenters/vc01/refresh", url.Values{"csrf": {tok}}); a.Status != http.StatusSeeOther {
		t.Fatalf("refresh: %d\n%s", a.Status, a.Body)
	}
	mustContain(t, "after refresh", owner.get(v+"/vcenters?done=refreshed&name=vc01").Body, "A refresh of vCenter vc01 was requested.", "(refresh pending)")
	if a = owner.post(v+"/vcenters/vc01/remove", url.Values{"csrf": {tok}}); a.Status != http.StatusSeeOther {
		t.Fatalf("remove: %d\n%s", a.Status, a.Body)
	}
	mustContain(t, "after remove", owner.get(v+"/vcenters?done=removed&name=vc01").Body, "(remove pending)")
	a = owner.post(v+"/vcenters/vc09/refresh", url.Values{"csrf": {tok}})
	if a.Status != http.StatusNotFound {
		t.Fatalf("refresh of a missing vCenter: %d", a.Status)
	}
	mustContain(t, "missing", a.Body, "vcenter vc09 does not exist in vault lab")
}
