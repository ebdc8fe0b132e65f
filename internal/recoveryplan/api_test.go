package recoveryplan_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/recoveryplan"
	"github.com/opensiterecovery/osr/internal/recoveryplan/plantest"
	"github.com/opensiterecovery/osr/internal/vault"
)

// TestAPI: the plan endpoints through the vault's handler: 503 until bound, roles as documented
// (reader reads, operator runs, contributor creates), strict bodies, and a run followed to its end.
func TestAPI(t *testing.T) {
	api := &recoveryplan.API{}
	clk := clock.NewFake(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	v := plantest.NewVaultRoutes(t, clk, "", api.Routes(), "db01", "web01")
	srv := httptest.NewServer(v.Handler())
	defer srv.Close()
	ctx := context.Background()
	admin, err := v.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	owner := vault.WithActor(ctx, vault.Actor{User: "admin", Role: vault.RoleOwner})
	tokens := map[string]string{"owner": admin}
	for _, r := range []string{"contributor", "operator", "reader"} {
		if _, err := v.AddUser(owner, vault.AddUserRequest{Name: r + "1", Role: r}); err != nil {
			t.Fatal(err)
		}
		tok, err := v.CreateToken(owner, vault.CreateTokenRequest{User: r + "1", Name: "t"})
		if err != nil {
			t.Fatal(err)
		}
		tokens[r] = tok.Secret
	}
	call := func(role, method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+vault.APIPrefix+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokens[role])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	plan := `{"name":"shop","groups":[{"name":"db","machines":["db01"]},{"machines":["web01"]}]}`
	if st, b := call("owner", "POST", "/vaults/lab/recovery-plans", plan); st != 503 || b != `{"error":"recovery plans are not ready yet"}` {
		t.Fatalf("before bind: %d %s", st, b)
	}
	f := &plantest.LocalFailover{Vault: v, Dir: filepath.Join(t.TempDir(), "out")}
	svc, err := recoveryplan.New(recoveryplan.Config{Vault: v, Failover: f}, recoveryplan.Deps{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	api.Bind(svc)
	for _, tc := range []struct {
		role, method, path, body string
		status                   int
		answer                   string
	}{
		{"operator", "POST", "/vaults/lab/recovery-plans", plan, 403, `{"error":"role operator may not do this (needs write)"}`},
		{"contributor", "POST", "/vaults/lab/recovery-plans", `{"name":"shop","colour":"red"}`, 400, `{"error":"request body is not valid: json: unknown field \"colour\""}`},
		{"contributor", "POST", "/vaults/lab/recovery-plans", `{"name":"shop","groups":[{"machines":["db01"]},{"machines":[]}]}`, 400, `{"error":"group 2 (group 2) has no machines"}`},
		{"contributor", "POST", "/vaults/lab/recovery-plans", "", 400, `{"error":"request body is empty"}`},
		{"contributor", "POST", "/vaults/lab/recovery-plans", plan, 201, ""},
		{"reader", "GET", "/vaults/lab/recovery-plans/shop", "", 200, ""},
		{"reader", "POST", "/vaults/lab/recovery-plans/shop/test-failover", "", 403, `{"error":"role reader may not do this (needs failover)"}`},
		{"operator", "POST", "/vaults/lab/recovery-plans/shop/test-failover", `{"shutdown_source":true}`, 400, `{"error":"shutdown_source is for failover only"}`},
		{"operator", "POST", "/vaults/lab/recovery-plans/shop/cleanup", `{"point":"latest"}`, 400, `{"error":"cleanup takes no options"}`},
		{"operator", "POST", "/vaults/lab/recovery-plans/nope/failover", "", 404, `{"error":"recovery plan nope does not exist in vault lab"}`},
		{"operator", "DELETE", "/vaults/lab/recovery-plans/shop", "", 403, `{"error":"role operator may not do this (needs write)"}`},
	} {
		st, b := call(tc.role, tc.method, tc.path, tc.body)
		if st != tc.status || (tc.answer != "" && b != tc.answer) {
			t.Fatalf("%s %s %s as %s: %d %s\nwant %d %s", tc.method, tc.path, tc.body, tc.role, st, b, tc.status, tc.answer)
		}
	}
	st, b := call("operator", "POST", "/vaults/lab/recovery-plans/shop/test-failover", `{"network":"isolated"}`)
	var run recoveryplan.Run
	if err := json.Unmarshal([]byte(b), &run); st != 202 || err != nil || run.Operation != "test-failover" || len(run.Steps) != 2 {
		t.Fatalf("start: %d %s", st, b)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := svc.WaitRun(wctx, "lab", run.ID); err != nil {
		t.Fatal(err)
	}
	st, b = call("reader", "GET", "/vaults/lab/recovery-plans/shop/runs/"+run.ID, "")
	if err := json.Unmarshal([]byte(b), &run); st != 200 || err != nil || run.State != "succeeded" || run.Steps[1].Name != "web01" || run.Steps[1].State != "succeeded" {
		t.Fatalf("run: %d %s", st, b)
	}
	if st, b = call("reader", "GET", "/vaults/lab/recovery-plans/shop/runs", ""); st != 200 || !strings.Contains(b, run.ID) {
		t.Fatalf("runs: %d %s", st, b)
	}
	if st, b = call("operator", "POST", "/vaults/lab/recovery-plans/shop/resume", ""); st != 409 || b != `{"error":"recovery plan shop has no paused run"}` {
		t.Fatalf("resume: %d %s", st, b)
	}
	if st, _ = call("contributor", "DELETE", "/vaults/lab/recovery-plans/shop", ""); st != 204 {
		t.Fatalf("delete: %d", st)
	}
}
