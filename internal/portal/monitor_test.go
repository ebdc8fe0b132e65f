package portal

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/vault"
)

func TestPSHealth(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(now)
	good := ProcessServer{LastSeen: now, CPUPercent: 10, MemoryPercent: 10, CacheFreePercent: 70, UploadDrainSeconds: 60}
	for _, tc := range []struct {
		name    string
		csUp    bool
		edit    func(*ProcessServer)
		want    string
		reasons []string
	}{
		{"healthy", true, func(*ProcessServer) {}, healthConnected, nil},
		{"configuration server down", false, func(*ProcessServer) {}, healthDisconnected, []string{"configuration server disconnected"}},
		{"heartbeat lost", true, func(p *ProcessServer) { p.LastSeen = now.Add(-5*time.Minute - time.Second) }, healthDisconnected, []string{"no heartbeat for 5m1s"}},
		{"heartbeat late", true, func(p *ProcessServer) { p.LastSeen = now.Add(-2 * time.Minute) }, healthWarning, []string{"last heartbeat 2m0s ago"}},
		{"cpu at 80", true, func(p *ProcessServer) { p.CPUPercent = 80 }, healthConnected, nil},
		{"cpu over 80", true, func(p *ProcessServer) { p.CPUPercent = 80.5 }, healthWarning, []string{"CPU 80%"}},
		{"memory over 95", true, func(p *ProcessServer) { p.MemoryPercent = 96 }, healthCritical, []string{"memory 96%"}},
		{"cache under 30", true, func(p *ProcessServer) { p.CacheFreePercent = 29 }, healthWarning, []string{"cache 29% free"}},
		{"cache under 25", true, func(p *ProcessServer) { p.CacheFreePercent = 24 }, healthCritical, []string{"cache 24% free"}},
		{"drain over 30 min", true, func(p *ProcessServer) { p.UploadDrainSeconds = 31 * 60 }, healthWarning, []string{"upload backlog drains in 31m0s"}},
		{"drain over 45 min, cpu warning", true, func(p *ProcessServer) { p.UploadDrainSeconds = 46 * 60; p.CPUPercent = 90 }, healthCritical,
			[]string{"upload backlog drains in 46m0s"}},
	} {
		ps := good
		tc.edit(&ps)
		got, reasons := psHealth(clk, tc.csUp, &ps)
		if got != tc.want || !reflectEqual(reasons, tc.reasons) {
			t.Errorf("%s: %s %q, want %s %q", tc.name, got, reasons, tc.want, tc.reasons)
		}
	}
}

// TestMonitoringPages follows one item through reports of its configuration server: servers and
// their health, the item's progress, its recovery points, the job's progress, alerts, the
// dashboard's figures.
func TestMonitoringPages(t *testing.T) {
	e := newEnv(t)
	c := newWebClient(t, e.url, e.tls)
	c.login("reader1", password("reader"))
	vid := e.vault(t, "lab")
	owner := newWebClient(t, e.url, e.tls)
	tok := owner.login("owner1", password("owner"))
	if a := owner.post("/vaults/"+vid+"/policies", map[string][]string{"csrf": {tok}, "name": {"gold"}, "rpo_minutes": {"15"}, "retention_hours": {"24"}, "app_consistent_minutes": {"60"}}); a.Status != http.StatusSeeOther {
		t.Fatalf("policy: %d\n%s", a.Status, a.Body)
	}
	e.protect(t, vid, "web01", "gold")
	v := "/vaults/" + vid

	a := c.get(v + "/servers")
	mustContain(t, "servers", a.Body, "Configuration server cs1", `<span class="badge ok">Connected</span>`, "ps1", "10.0.0.5:9443",
		"12 %", "40 %", "71 %", "100.0 MiB", "drains in 2 min", "web01", "0.1.0")
	// A process server its configuration server knows but that never reported: no figures.
	fresh := initialReport(e.clock.Now(), "web01", 42.5)
	fresh.ProcessServers = append(fresh.ProcessServers, vault.PSHealth{Name: "ps2", Address: "10.0.0.6:9443"})
	e.report(t, vid, fresh)
	a = c.get(v + "/servers")
	mustContain(t, "servers", a.Body, `<td>ps2</td><td><span class="badge off">Disconnected</span><br><small>no heartbeat yet</small></td>`,
		`<td colspan="4" class="muted">no report yet</td><td>never</td>`)
	a = c.get(v + "/items")
	mustContain(t, "items", a.Body, `<progress max="100" value="42.5"`, "42 %", "Initial replication")
	a = c.get(v + "/jobs")
	mustContain(t, "jobs", a.Body, "enable-replication", "web01", `value="42.5"`, "running")
	m := regexp.MustCompile(`href="(/vaults/[^/]+/jobs/(job-[0-9a-f]+))">enable-replication<`).FindStringSubmatch(a.Body)
	if m == nil {
		t.Fatalf("no link to the enable-replication job:\n%s", a.Body)
	}
	a = c.get(m[1])
	mustContain(t, "job page", a.Body, "<h1>Job enable-replication</h1>", "web01", "42 %",
		`hx-get="`+m[1]+`/progress" hx-trigger="every 5s"`)
	a = c.get(m[1]+"/progress", "HX-Request", "true")
	if a.Status != http.StatusOK || !strings.HasPrefix(strings.TrimSpace(a.Body), `<section id="job-progress"`) {
		t.Errorf("job progress fragment: %d\n%s", a.Status, a.Body)
	}
	// A job is shown only under its own vault.
	other := e.vault(t, "other")
	a = c.get("/vaults/" + other + "/jobs/" + m[2])
	if a.Status != http.StatusNotFound {
		t.Errorf("job under another vault: %d", a.Status)
	}
	mustContain(t, "job under another vault", a.Body, "job "+m[2]+" is not a job of vault other")

	// The process server gets hot and the agent goes quiet; a recovery point lands; the item is protected.
	now := e.clock.Now()
	at := now.Add(-20 * time.Minute)
	id := e.point(t, vid, "web01", "app", at)
	e.report(t, vid, vault.Heartbeat{Time: now,
		ProcessServers: []vault.PSHealth{{Name: "ps1", Address: "10.0.0.5:9443", LastSeen: now, CPUPercent: 97, MemoryPercent: 40, CacheFreePercent: 28, UploadDrainSeconds: 60}},
		Agents:         []vault.AgentStatus{{Machine: "web01", ProcessServer: "ps1", LastSeen: now.Add(-10 * time.Minute), Version: "0.1.0"}},
		Items:          []vault.ItemReport{{Machine: "web01", State: "protected", LastPointTime: &at, LastPointID: id}},
	})
	a = c.get(v + "/servers")
	mustContain(t, "servers after", a.Body, `<span class="badge crit">Critical</span><br><small>CPU 97%</small>`,
		`<td>web01</td><td><span class="badge off">Disconnected</span>`)
	a = c.get(v + "/items/web01")
	mustContain(t, "item", a.Body, "Protected", id, `<span class="badge ok">app-consistent</span>`, "sda",
		`<span class="crit">20 min</span> (threshold 15 min)`, at.UTC().Format("2006-01-02 15:04:05 UTC"), "web01: initial-replication → protected")
	a = c.get(v + "/jobs")
	mustContain(t, "jobs after", a.Body, "succeeded", "protected")
	// A finished job's progress no longer polls.
	if a = c.get(m[1]); strings.Contains(a.Body, `hx-trigger`) {
		t.Errorf("finished job still refreshes:\n%s", a.Body)
	}
	a = c.get("/")
	mustContain(t, "dashboard", a.Body, `<li><span class="badge ok">Protected</span> 1</li>`, `<li><span class="badge crit">RPO exceeded</span> 1</li>`)

	// The vault raises alerts for all this; the alerts page and the dashboard show them.
	e.evaluate(t)
	a = c.get(v + "/alerts")
	open, cleared, _ := strings.Cut(a.Body, "<h2>Cleared alerts</h2>")
	mustContain(t, "open alerts", open,
		`<td>agent-heartbeat-lost</td><td>agent/web01</td>`,
		`<td>web01: the newest recovery point is 20m0s old, over the RPO threshold of 15m0s</td>`,
		`<td><span class="badge sev-critical">critical</span></td><td>process-server-cpu</td><td>ps/cs1/ps1</td><td>process server ps1: CPU use 97% is over 95%</td>`,
		`<td><span class="badge sev-warning">warning</span></td><td>process-server-cache</td>`)
	mustContain(t, "cleared alerts", cleared, "None.")
	a = c.get("/")
	mustContain(t, "dashboard alerts", a.Body, `<a href="`+v+`/alerts" class="crit">4</a> <small>(2 critical)</small>`)
	a = c.get(v + "/items/web01")
	mustContain(t, "item alerts", a.Body, "<h2>Open alerts</h2>", "rpo-exceeded", "agent-heartbeat-lost")
	mustNotContain(t, "item alerts", a.Body, "process-server-cpu")
}
