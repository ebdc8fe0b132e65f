package vault

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func openAlerts(t *testing.T, e *env) []string {
	t.Helper()
	var as []Alert
	e.decodeInto(e.mustDo("GET", "/alerts?vault=lab", e.tokens[RoleReader], nil, 200), &as)
	var out []string
	for _, a := range as {
		out = append(out, a.Severity+" "+a.Kind+" "+a.Subject+": "+a.Message)
	}
	sort.Strings(out)
	return out
}

func TestAlertsAndWebhooks(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		own := e.tokens[RoleOwner]
		// A real receiver that fails twice, then accepts.
		var mu sync.Mutex
		var got []WebhookPayload
		fails := 0
		var secret []byte
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if fails > 0 {
				fails--
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			b, _ := io.ReadAll(r.Body)
			if sig := r.Header.Get("X-Osr-Signature"); sig != WebhookSignature(secret, b) {
				t.Errorf("signature %q does not match the body", sig)
			}
			var p WebhookPayload
			if err := json.Unmarshal(b, &p); err != nil || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("payload %s: %v", b, err)
			}
			got = append(got, p)
		}))
		defer recv.Close()
		e.expectError("POST", "/webhooks", own, AddWebhookRequest{URL: "ftp://x"}, 400, `webhook URL "ftp://x" is not an http or https URL`)
		var wh Webhook
		e.decodeInto(e.mustDo("POST", "/webhooks", own, AddWebhookRequest{URL: recv.URL + "/hook"}, 201), &wh)
		if len(wh.Secret) != 64 {
			t.Fatalf("webhook secret %q", wh.Secret)
		}
		mu.Lock()
		secret = []byte(wh.Secret)
		mu.Unlock()
		var whs []Webhook
		e.decodeInto(e.mustDo("GET", "/webhooks", own, nil, 200), &whs)
		if len(whs) != 1 || whs[0].Secret != "" {
			t.Fatalf("webhook list shows the secret: %+v", whs)
		}

		cs := protectedSetup(t, e)
		e.mustDo("POST", "/vaults/lab/protected-items", own, EnableRequest{Machine: "web01", Policy: "gold"}, 201)
		beat := func(ps PSHealth, agentSeen time.Time, items ...ItemReport) {
			t.Helper()
			mustDoWith(e, cs.client, "POST", "/cs/heartbeat", Heartbeat{Time: e.clk.Now(), ProcessServers: []PSHealth{ps}, Agents: []AgentStatus{{Machine: "web01", LastSeen: agentSeen}}, Items: items}, 200)
		}
		eval := func() {
			t.Helper()
			if err := e.svc.EvaluateAlerts(ctx); err != nil {
				t.Fatal(err)
			}
		}
		now := e.clk.Now()
		pt := now
		beat(PSHealth{Name: "ps1", LastSeen: now, CPUPercent: 85, MemoryPercent: 96, CacheFreePercent: 28, UploadDrainSeconds: 46 * 60}, now,
			ItemReport{Machine: "web01", State: StateProtected, LastPointTime: &pt, LastPointID: "p1"})
		eval()
		want := []string{
			"critical process-server-memory ps/cs1/ps1: process server ps1: memory use 96% is over 95%",
			"critical process-server-upload-backlog ps/cs1/ps1: process server ps1: upload backlog needs 46m0s to drain, over 45m0s",
			"warning process-server-cache ps/cs1/ps1: process server ps1: cache free space 28% is under 30%",
			"warning process-server-cpu ps/cs1/ps1: process server ps1: CPU use 85% is over 80%",
		}
		if a := openAlerts(t, e); strings.Join(a, "\n") != strings.Join(want, "\n") {
			t.Fatalf("alerts:\n%s\nwant\n%s", strings.Join(a, "\n"), strings.Join(want, "\n"))
		}
		eval() // idempotent
		if a := openAlerts(t, e); len(a) != 4 {
			t.Fatalf("after a second evaluation: %v", a)
		}
		// Healthy again, but 16 minutes without a point: RPO warning; the others clear.
		e.clk.Advance(16 * time.Minute)
		now = e.clk.Now()
		beat(PSHealth{Name: "ps1", LastSeen: now, CPUPercent: 10, MemoryPercent: 10, CacheFreePercent: 80, UploadDrainSeconds: 60}, now)
		eval()
		want = []string{"warning rpo-exceeded item/web01: web01: the newest recovery point is 16m0s old, over the RPO threshold of 15m0s"}
		if a := openAlerts(t, e); strings.Join(a, "\n") != strings.Join(want, "\n") {
			t.Fatalf("alerts:\n%s", strings.Join(a, "\n"))
		}
		// Past twice the threshold it is critical; the process server and agent go silent (their
		// last_seen stays old while the configuration server still beats).
		e.clk.Advance(15 * time.Minute)
		beat(PSHealth{Name: "ps1", LastSeen: now, CacheFreePercent: 80}, now)
		eval()
		lost := now.UTC().Format(time.RFC3339)
		want = []string{
			"critical agent-heartbeat-lost agent/web01: mobility agent on web01: no heartbeat since " + lost,
			"critical process-server-heartbeat-lost ps/cs1/ps1: process server ps1: no heartbeat since " + lost,
			"critical rpo-exceeded item/web01: web01: the newest recovery point is 31m0s old, over the RPO threshold of 15m0s",
		}
		if a := openAlerts(t, e); strings.Join(a, "\n") != strings.Join(want, "\n") {
			t.Fatalf("alerts:\n%s", strings.Join(a, "\n"))
		}
		// A new point and fresh heartbeats clear everything.
		now = e.clk.Now()
		pt = now
		beat(PSHealth{Name: "ps1", LastSeen: now, CacheFreePercent: 80}, now, ItemReport{Machine: "web01", State: StateProtected, LastPointTime: &pt, LastPointID: "p2"})
		eval()
		if a := openAlerts(t, e); len(a) != 0 {
			t.Fatalf("alerts after recovery: %v", a)
		}
		// The configuration server itself goes silent.
		e.clk.Advance(3 * time.Minute)
		eval()
		if a := openAlerts(t, e); len(a) != 3 || !strings.HasPrefix(a[1], "critical config-server-heartbeat-lost cs/cs1: configuration server cs1: no heartbeat since ") {
			t.Fatalf("alerts with the configuration server silent: %v", a)
		}

		// Webhooks: every change was queued. The receiver is down for two passes: attempts after
		// 0 s and 10 s fail, the next is due 20 s after that (back-off doubles) and succeeds.
		ds, _ := e.svc.ListDeliveries(ctx)
		total := len(ds)
		if total < 10 {
			t.Fatalf("only %d deliveries queued", total)
		}
		pass := func(wantDelivered int) {
			t.Helper()
			n, err := e.svc.DeliverWebhooks(ctx)
			if err != nil || n != wantDelivered {
				t.Fatalf("delivered %d (%v), want %d", n, err, wantDelivered)
			}
		}
		mu.Lock()
		fails = 1 << 30
		mu.Unlock()
		pass(0)
		pass(0) // nothing due yet
		e.clk.Advance(10 * time.Second)
		pass(0)
		e.clk.Advance(10 * time.Second)
		mu.Lock()
		calls := 1<<30 - fails
		fails = 0
		mu.Unlock()
		if calls != 2*total {
			t.Fatalf("receiver saw %d attempts, want %d", calls, 2*total)
		}
		pass(0) // back-off is 20 s now
		e.clk.Advance(10 * time.Second)
		pass(total)
		ds, _ = e.svc.ListDeliveries(ctx)
		for i, d := range ds {
			if !d.Delivered || d.Attempts != 3 || d.LastError != "" {
				t.Fatalf("delivery %d: %+v", i, d)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		kinds := map[string]int{}
		for _, p := range got {
			kinds[p.Type]++
		}
		if len(got) != total || kinds["alert.raised"] == 0 || kinds["alert.cleared"] == 0 || kinds["alert.updated"] == 0 {
			t.Fatalf("received %d payloads: %v", len(got), kinds)
		}
		var all []Alert
		e.decodeInto(e.mustDo("GET", "/alerts?vault=lab&all=true", own, nil, 200), &all)
		if len(all) <= 3 {
			t.Fatalf("all alerts: %d", len(all))
		}
	})
}
