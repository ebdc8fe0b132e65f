package portal

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestEveryPageEveryRole renders every page as every role: all render, and the buttons a role
// may not use are absent.
func TestEveryPageEveryRole(t *testing.T) {
	e := newEnv(t)
	owner := newWebClient(t, e.url, e.tls)
	otok := owner.login("owner1", password("owner"))
	if a := owner.post("/vaults", url.Values{"csrf": {otok}, "name": {"lab"}, "storage_url": {e.storage(t, "lab")}}); a.Status != http.StatusSeeOther {
		t.Fatalf("create vault: %d\n%s", a.Status, a.Body)
	}
	vid := e.vaultID(t, "lab")
	v := "/vaults/" + vid
	a := owner.post(v+"/policies", url.Values{"csrf": {otok}, "name": {"gold"}, "rpo_minutes": {"15"}, "retention_hours": {"24"}, "app_consistent_minutes": {"60"}})
	if a.Status != http.StatusSeeOther {
		t.Fatalf("create policy: %d\n%s", a.Status, a.Body)
	}
	e.protect(t, vid, "web01", "gold")

	pages := []struct {
		path string
		want []string
		// mutating controls, shown only to roles that may use them
		controls map[string]string
	}{
		{"/", []string{"Dashboard", `href="` + v + `"`, "Items by state", "RPO health"}, map[string]string{actUsers: `href="/users"`}},
		{"/audit", []string{"Audit log", "<code>vault.create</code></td><td>lab</td>"}, nil},
		{"/vaults", []string{"<caption>Vaults</caption>", "lab"}, map[string]string{actVaultCreate: "Create a vault"}},
		{v, []string{"Vault lab", "Prepare infrastructure", "gold"}, map[string]string{actVaultDelete: `href="` + v + `/delete"`}},
		{v + "/delete", []string{"Delete vault lab", "Vault storage"}, map[string]string{actVaultDelete: `<button type="submit" class="danger">Delete vault</button>`}},
		{v + "/prepare", []string{"Protection goal", "Not virtualised / other"}, nil},
		{v + "/prepare?step=source", []string{"Prepare source", "valid for five days"}, map[string]string{actRegKey: "Download registration key"}},
		{v + "/prepare?step=target", []string{"Target settings"}, map[string]string{actTargetSet: `name="location"`}},
		{v + "/prepare?step=policy", []string{"gold", "gold-failback", "15 min", "24 h", "60 min"}, map[string]string{actPolicyCreate: "Create and associate policy"}},
		{v + "/prepare?step=capacity", []string{"osr mobility profile --duration 24h", "Plan capacity", "Yes, I have completed capacity planning"}, nil},
		{v + "/servers", []string{"Servers"}, nil},
		{v + "/items", []string{"web01", `hx-trigger="every 5s"`}, map[string]string{actReplEnable: "<h2>Enable replication</h2>", actReplDisable: "Disable replication of web01"}},
		{v + "/items/web01", []string{"web01", "Recovery points", "Events"}, map[string]string{actReplDisable: "Disable replication"}},
		{v + "/items/web01/disable", []string{"Disable replication of web01"}, map[string]string{actReplDisable: `<button type="submit" class="danger">Disable replication</button>`}},
		{v + "/jobs", []string{"create-vault", `hx-trigger="every 5s"`}, nil},
		{v + "/alerts", []string{"Open alerts", "Cleared alerts"}, nil},
		{v + "/events", []string{"vault-created"}, nil},
	}
	for _, role := range roles {
		c := newWebClient(t, e.url, e.tls)
		c.login(role+"1", password(role))
		for _, pg := range pages {
			a := c.get(pg.path)
			what := role + " " + pg.path
			if a.Status != http.StatusOK {
				t.Errorf("%s: status %d\n%s", what, a.Status, a.Body)
				continue
			}
			mustContain(t, what, a.Body, pg.want...)
			mustContain(t, what, a.Body, `<span>`+role+`1 <small>(`+role+`)</small></span>`)
			for act, control := range pg.controls {
				if can(role, act) {
					mustContain(t, what, a.Body, control)
				} else {
					mustNotContain(t, what, a.Body, control)
				}
			}
			if ct := a.Header.Get("Content-Security-Policy"); !strings.Contains(ct, "script-src 'self'") {
				t.Errorf("%s: CSP %q", what, ct)
			}
		}
	}
}

// TestRefusedByAPI posts as roles the API refuses: the API's 403 message is shown and nothing
// changes, even though the portal does not show these buttons.
func TestRefusedByAPI(t *testing.T) {
	e := newEnv(t)
	vid := e.vault(t, "lab")
	for _, role := range []string{"operator", "reader"} {
		c := newWebClient(t, e.url, e.tls)
		tok := c.login(role+"1", password(role))
		for _, tc := range []struct {
			path string
			form url.Values
		}{
			{"/vaults", url.Values{"name": {"other"}, "storage_url": {e.storage(t, "other")}}},
			{"/vaults/" + vid + "/policies", url.Values{"name": {"silver"}, "rpo_minutes": {"15"}, "retention_hours": {"24"}, "app_consistent_minutes": {"60"}}},
			{"/vaults/" + vid + "/target", url.Values{"provider": {"local"}, "location": {e.failoverDir}}},
			{"/vaults/" + vid + "/items", url.Values{"machine": {"web01"}, "policy": {"gold"}}},
			{"/vaults/" + vid + "/registration-key", url.Values{}},
		} {
			tc.form.Set("csrf", tok)
			a := c.post(tc.path, tc.form)
			if a.Status != http.StatusForbidden {
				t.Errorf("%s POST %s: status %d, want 403", role, tc.path, a.Status)
				continue
			}
			mustContain(t, role+" "+tc.path, a.Body, "role "+role+" may not do this (needs write)")
		}
		if a := c.get("/vaults"); strings.Contains(a.Body, ">other<") {
			t.Errorf("%s created a vault", role)
		}
	}
}

// TestFormsShowAPIErrors posts forms the API refuses: the page shows the API's exact message with
// the API's status and keeps what was typed.
func TestFormsShowAPIErrors(t *testing.T) {
	e := newEnv(t)
	c := newWebClient(t, e.url, e.tls)
	tok := c.login("contributor1", password("contributor"))
	vid := e.vault(t, "lab")
	v := "/vaults/" + vid
	for _, tc := range []struct {
		name   string
		path   string
		form   url.Values
		status int
		want   []string
	}{
		{"vault without storage", "/vaults", url.Values{"name": {"lab2"}}, 400, []string{"storage_url is required", `value="lab2"`}},
		{"vault name taken", "/vaults", url.Values{"name": {"lab"}, "storage_url": {e.storage(t, "lab-again")}}, 409, []string{"vault lab already exists"}},
		{"policy rpo not a number", v + "/policies", url.Values{"name": {"p1"}, "rpo_minutes": {"soon"}, "retention_hours": {"24"}, "app_consistent_minutes": {"60"}}, 400,
			[]string{`RPO threshold must be a whole number of minutes, at least 1, not &#34;soon&#34;`, `value="p1"`}},
		{"policy rpo zero", v + "/policies", url.Values{"name": {"p1"}, "rpo_minutes": {"0"}, "retention_hours": {"24"}, "app_consistent_minutes": {"60"}}, 400,
			[]string{`RPO threshold must be a whole number of minutes, at least 1, not &#34;0&#34;`}},
		{"policy rpo out of bounds", v + "/policies", url.Values{"name": {"p1"}, "rpo_minutes": {"2000"}, "retention_hours": {"24"}, "app_consistent_minutes": {"60"}}, 400,
			[]string{"rpo_threshold_seconds must be between 60 (1m0s) and 86400 (24h0m0s), got 120000"}},
		{"target provider unknown", v + "/target", url.Values{"provider": {"floppy"}, "location": {"/srv/x"}}, 400, []string{`target provider &#34;floppy&#34; is not known (local or azure)`}},
		{"enable without policy", v + "/items", url.Values{"machine": {"web01"}}, 400, []string{"policy is required"}},
		{"disable unknown item", v + "/items/nosuch/disable", url.Values{}, 404, []string{"machine nosuch is not protected"}},
	} {
		tc.form.Set("csrf", tok)
		a := c.post(tc.path, tc.form)
		if a.Status != tc.status {
			t.Errorf("%s: status %d, want %d\n%s", tc.name, a.Status, tc.status, a.Body)
			continue
		}
		mustContain(t, tc.name, a.Body, `<p class="error" role="alert">`)
		mustContain(t, tc.name, a.Body, tc.want...)
	}
}

func TestRegistrationKeyDownload(t *testing.T) {
	e := newEnv(t)
	c := newWebClient(t, e.url, e.tls)
	tok := c.login("owner1", password("owner"))
	vid := e.vault(t, "lab")
	a := c.post("/vaults/"+vid+"/registration-key", url.Values{"csrf": {tok}})
	if a.Status != http.StatusOK {
		t.Fatalf("status %d\n%s", a.Status, a.Body)
	}
	if got := a.Header.Get("Content-Disposition"); got != `attachment; filename="lab.regkey"` {
		t.Errorf("Content-Disposition %q", got)
	}
	if !strings.HasPrefix(a.Body, "osr-regkey-1.") || !strings.HasSuffix(a.Body, "\n") {
		t.Errorf("key file %q", a.Body)
	}
	e.checkKey(t, vid, a.Body)
}

func TestPartials(t *testing.T) {
	e := newEnv(t)
	c := newWebClient(t, e.url, e.tls)
	c.login("reader1", password("reader"))
	vid := e.vault(t, "lab")
	for _, path := range []string{"/vaults/" + vid + "/items/table", "/vaults/" + vid + "/jobs/table", "/vaults/" + vid + "/prepare/source-servers"} {
		a := c.get(path, "HX-Request", "true")
		if a.Status != http.StatusOK {
			t.Fatalf("%s: %d\n%s", path, a.Status, a.Body)
		}
		if strings.Contains(a.Body, "<html") || !strings.HasPrefix(strings.TrimSpace(a.Body), `<div id="`) {
			t.Errorf("%s is not a fragment:\n%s", path, a.Body)
		}
		mustContain(t, path, a.Body, `hx-trigger="every 5s"`, `hx-swap="outerHTML"`)
	}
	// Fragments are compressed for clients that take gzip (they are the repeated traffic); whole
	// pages, which carry the CSRF token, never are (BREACH).
	e.protect(t, vid, "web01", e.policy(t, vid, "gold"))
	for path, want := range map[string]string{"/vaults/" + vid + "/items/table": "gzip", "/vaults/" + vid + "/items": ""} {
		a := c.get(path, "HX-Request", "true", "Accept-Encoding", "gzip")
		if got := a.Header.Get("Content-Encoding"); got != want {
			t.Errorf("%s: Content-Encoding %q, want %q", path, got, want)
		}
		if want == "gzip" {
			zr, err := gzip.NewReader(strings.NewReader(a.Body))
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(zr)
			if err != nil || !strings.Contains(string(b), `href="/vaults/`+vid+`/items/web01">web01</a>`) {
				t.Errorf("%s: gzip body %v\n%s", path, err, b)
			}
		}
	}
	// An API error in a refresh replaces the fragment with the message.
	a := c.get("/vaults/v-nosuch/items/table", "HX-Request", "true")
	if a.Status != http.StatusNotFound || strings.TrimSpace(a.Body) != `<p class="error" role="alert">vault v-nosuch does not exist</p>` {
		t.Errorf("refresh of a missing vault: %d %q", a.Status, a.Body)
	}
}

func TestStaticFiles(t *testing.T) {
	e := newEnv(t)
	c := newWebClient(t, e.url, e.tls)
	for path, want := range map[string]string{
		"/static/htmx.min.js":  "var htmx=function()",
		"/static/portal.css":   "--accent",
		"/static/htmx.LICENSE": "Zero-Clause BSD",
	} {
		a := c.get(path)
		if a.Status != http.StatusOK || !strings.Contains(a.Body, want) {
			t.Errorf("%s: %d", path, a.Status)
		}
	}
	if a := c.get("/static/"); a.Status != http.StatusNotFound {
		t.Errorf("directory listing: %d", a.Status)
	}
}

func TestEnableDisableReplication(t *testing.T) {
	e := newEnv(t)
	c := newWebClient(t, e.url, e.tls)
	tok := c.login("contributor1", password("contributor"))
	vid := e.vault(t, "lab")
	v := "/vaults/" + vid
	if a := c.post(v+"/policies", url.Values{"csrf": {tok}, "name": {"gold"}, "rpo_minutes": {"15"}, "retention_hours": {"24"}, "app_consistent_minutes": {"60"}}); a.Status != http.StatusSeeOther {
		t.Fatalf("policy: %d\n%s", a.Status, a.Body)
	}
	e.protect(t, vid, "web01", "gold") // registers cs1 with web01 and db01

	a := c.get(v + "/items")
	mustContain(t, "enable form", a.Body, `<option value="db01">db01 (db01.example.net)</option>`)
	mustNotContain(t, "enable form", a.Body, `<option value="web01">`) // already protected
	a = c.post(v+"/items", url.Values{"csrf": {tok}, "machine": {"db01"}, "policy": {"gold"}, "process_server": {"ps1"}})
	if a.Status != http.StatusSeeOther || a.Location != v+"/items?done=enabled&machine=db01" {
		t.Fatalf("enable: %d %q\n%s", a.Status, a.Location, a.Body)
	}
	a = c.get(a.Location)
	mustContain(t, "after enable", a.Body, "Replication of db01 is being enabled.", `href="`+v+`/items/db01">db01</a>`, "Enabling protection", "ps1")
	// Enabling it twice: the API's conflict, shown on the form.
	a = c.post(v+"/items", url.Values{"csrf": {tok}, "machine": {"db01"}, "policy": {"gold"}})
	if a.Status != http.StatusConflict {
		t.Fatalf("enable twice: %d\n%s", a.Status, a.Body)
	}
	mustContain(t, "enable twice", a.Body, `<p class="error" role="alert">`)

	a = c.get(v + "/items/web01/disable")
	mustContain(t, "confirm", a.Body, "<h1>Disable replication of web01</h1>", `action="`+v+`/items/web01/disable"`, "recovery points stay")
	a = c.post(v+"/items/web01/disable", url.Values{"csrf": {tok}})
	if a.Status != http.StatusSeeOther {
		t.Fatalf("disable: %d\n%s", a.Status, a.Body)
	}
	a = c.get(a.Location)
	mustContain(t, "after disable", a.Body, "Replication of web01 was disabled; its recovery points stay until retention removes them.")
	mustNotContain(t, "after disable", a.Body, `href="`+v+`/items/web01"`)
	if a := c.get(v + "/items/web01"); a.Status != http.StatusNotFound {
		t.Errorf("page of a disabled item: %d", a.Status)
	}
}

func TestDeleteVault(t *testing.T) {
	e := newEnv(t)
	c := newWebClient(t, e.url, e.tls)
	tok := c.login("owner1", password("owner"))
	vid := e.vault(t, "lab")
	v := "/vaults/" + vid
	if a := c.post(v+"/policies", url.Values{"csrf": {tok}, "name": {"gold"}, "rpo_minutes": {"15"}, "retention_hours": {"24"}, "app_consistent_minutes": {"60"}}); a.Status != http.StatusSeeOther {
		t.Fatalf("policy: %d", a.Status)
	}
	e.protect(t, vid, "web01", "gold")
	// Refused while it protects a machine: the API's message on the confirmation page.
	a := c.post(v+"/delete", url.Values{"csrf": {tok}})
	if a.Status != http.StatusConflict {
		t.Fatalf("delete with an item: %d\n%s", a.Status, a.Body)
	}
	mustContain(t, "delete refused", a.Body, `<p class="error" role="alert">vault lab still protects 1 items: disable their replication first</p>`)
	if a := c.post(v+"/items/web01/disable", url.Values{"csrf": {tok}}); a.Status != http.StatusSeeOther {
		t.Fatalf("disable: %d", a.Status)
	}
	a = c.post(v+"/delete", url.Values{"csrf": {tok}})
	if a.Status != http.StatusSeeOther || a.Location != "/vaults?deleted=lab" {
		t.Fatalf("delete: %d %q\n%s", a.Status, a.Location, a.Body)
	}
	a = c.get(a.Location)
	mustContain(t, "after delete", a.Body, "Vault lab was deleted.", "No vaults yet.")
	if a := c.get(v); a.Status != http.StatusNotFound {
		t.Errorf("deleted vault's page: %d", a.Status)
	}
}

// TestProtectionGoalCarriesOver: the goal chosen on the first step shapes the next ones.
func TestProtectionGoalCarriesOver(t *testing.T) {
	e := newEnv(t)
	c := newWebClient(t, e.url, e.tls)
	tok := c.login("owner1", password("owner"))
	vid := e.vault(t, "lab")
	v := "/vaults/" + vid
	a := c.post(v+"/prepare/goal", url.Values{"csrf": {tok}, "to": {"azure"}, "machines": {"vmware"}})
	if a.Status != http.StatusSeeOther || a.Location != v+"/prepare?step=source&to=azure&machines=vmware" {
		t.Fatalf("goal: %d %q", a.Status, a.Location)
	}
	a = c.get(a.Location)
	mustContain(t, "source", a.Body, "vCenter discovery account", `href="`+v+`/prepare?step=target&amp;to=azure&amp;machines=vmware"`)
	a = c.get(v + "/prepare?step=target&to=azure&machines=vmware")
	mustContain(t, "target", a.Body, `<option value="azure" selected>`, `<input type="hidden" name="to" value="azure">`)
	// The API checks the azure settings.
	a = c.post(v+"/target", url.Values{"csrf": {tok}, "to": {"azure"}, "machines": {"vmware"}, "provider": {"azure"}, "location": {"azure://failover"}})
	if a.Status != http.StatusBadRequest {
		t.Fatalf("azure without resource group: %d", a.Status)
	}
	mustContain(t, "azure target", a.Body, "resource_group is required for provider azure", `value="azure://failover"`)
	a = c.post(v+"/target", url.Values{"csrf": {tok}, "to": {"azure"}, "machines": {"vmware"}, "provider": {"azure"}, "location": {"azure://failover"}, "resource_group": {"rg-migration"}})
	if a.Status != http.StatusSeeOther || a.Location != v+"/prepare?step=policy&done=target&to=azure&machines=vmware" {
		t.Fatalf("azure target: %d %q\n%s", a.Status, a.Location, a.Body)
	}
	mustContain(t, "vault", c.get(v).Body, "azure: <code>azure://failover</code>")
}
