package vault

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestVaultsAPI(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		own := e.tokens[RoleOwner]
		v := e.createVault("lab")
		if !strings.HasPrefix(v.ID, "v-") || v.Name != "lab" {
			t.Fatalf("created %+v", v)
		}
		for _, tc := range []struct {
			name, method, path string
			body               any
			status             int
			msg                string
		}{
			{"duplicate", "POST", "/vaults", CreateVaultRequest{Name: "lab", StorageURL: "file:///tmp/x"}, 409, "vault lab already exists"},
			{"bad name", "POST", "/vaults", CreateVaultRequest{Name: "Lab!", StorageURL: "file:///tmp/x"}, 400, `vault name "Lab!" is not valid: use 1 to 63 characters a-z, 0-9, '.', '-', starting with a letter or digit`},
			{"no storage", "POST", "/vaults", CreateVaultRequest{Name: "x"}, 400, "storage_url is required"},
			{"bad storage", "POST", "/vaults", CreateVaultRequest{Name: "x", StorageURL: "ftp://h/p"}, 400, `cannot create the replica store at ftp://h/p: storage URL ftp://h/p: unknown scheme "ftp" (want file, azure or s3, or a plain path)`},
			{"show missing", "GET", "/vaults/nope", nil, 404, "vault nope does not exist"},
			{"delete missing", "DELETE", "/vaults/nope", nil, 404, "vault nope does not exist"},
			{"target bad provider", "PUT", "/vaults/lab/target", Target{Provider: "gcp"}, 400, `target provider "gcp" is not known (local or azure)`},
			{"target relative", "PUT", "/vaults/lab/target", Target{Provider: "local", Location: "rel/dir"}, 400, `target location "rel/dir" must be an absolute directory for provider local`},
			{"target azure url", "PUT", "/vaults/lab/target", Target{Provider: "azure", Location: "/x", ResourceGroup: "rg"}, 400, `target location "/x" must be an azure://CONTAINER[/PREFIX] URL for provider azure`},
			{"target azure rg", "PUT", "/vaults/lab/target", Target{Provider: "azure", Location: "azure://c/p"}, 400, "resource_group is required for provider azure"},
			{"no endpoint", "GET", "/nothing", nil, 404, "no such endpoint: GET /api/v1/nothing"},
			{"no token", "GET", "/vaults", nil, 401, "missing or invalid API token"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.with(t)
				tok := own
				if tc.name == "no token" {
					tok = ""
				}
				e.expectError(tc.method, tc.path, tok, tc.body, tc.status, tc.msg)
			})
		}
		var got Vault
		e.decodeInto(e.mustDo("PUT", "/vaults/lab/target", own, Target{Provider: "local", Location: "/srv/failover", Network: "lab-net"}, 200), &got)
		e.decodeInto(e.mustDo("GET", "/vaults/lab", e.tokens[RoleReader], nil, 200), &got)
		if got.Target != (Target{Provider: "local", Location: "/srv/failover", Network: "lab-net"}) || got.ID != v.ID {
			t.Fatalf("show: %+v", got)
		}
		var list []Vault
		e.decodeInto(e.mustDo("GET", "/vaults", own, nil, 200), &list)
		if len(list) != 1 || list[0].Name != "lab" {
			t.Fatalf("list: %+v", list)
		}
		var jobs []Job
		e.decodeInto(e.mustDo("GET", "/jobs?vault=lab", own, nil, 200), &jobs)
		if len(jobs) != 1 || jobs[0].Kind != "create-vault" || jobs[0].State != JobSucceeded || jobs[0].Progress != 100 {
			t.Fatalf("jobs: %+v", jobs)
		}
		var j Job
		e.decodeInto(e.mustDo("GET", "/jobs/"+jobs[0].ID, own, nil, 200), &j)
		if j.ID != jobs[0].ID {
			t.Fatalf("job: %+v", j)
		}
		e.expectError("GET", "/jobs/job-x", own, nil, 404, "job job-x does not exist")
		e.expectError("GET", "/jobs?limit=0", own, nil, 400, `limit must be an integer between 1 and 1000, got "0"`)
		e.mustDo("DELETE", "/vaults/lab", own, nil, 204)
		e.expectError("GET", "/vaults/lab", own, nil, 404, "vault lab does not exist")
		var audit []AuditEntry
		e.decodeInto(e.mustDo("GET", "/audit", own, nil, 200), &audit)
		if audit[0].Action != "vault.delete" || audit[0].Actor != "admin" || !strings.HasPrefix(audit[0].Remote, "127.0.0.1:") || audit[1].Action != "vault.target" {
			t.Fatalf("audit: %+v", audit[:2])
		}
	})
}

func TestPoliciesAPI(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		own := e.tokens[RoleOwner]
		e.createVault("lab")
		var p Policy
		e.decodeInto(e.mustDo("POST", "/vaults/lab/policies", own, map[string]any{"name": "gold"}, 201), &p)
		if p.RPOThresholdSeconds != 900 || p.RetentionSeconds != 86400 || p.AppConsistentSeconds != 3600 || p.CrashConsistentSeconds != 300 {
			t.Fatalf("defaults: %+v", p)
		}
		var list []Policy
		e.decodeInto(e.mustDo("GET", "/vaults/lab/policies", own, nil, 200), &list)
		if len(list) != 2 || list[0].Name != "gold" || list[1].Name != "gold-failback" || list[1].FailbackOf != p.ID || list[1].RPOThresholdSeconds != 900 {
			t.Fatalf("list: %+v", list)
		}
		for _, tc := range []struct {
			name   string
			body   map[string]any
			status int
			msg    string
		}{
			{"duplicate", map[string]any{"name": "gold"}, 409, "policy gold already exists"},
			{"failback name", map[string]any{"name": "x-failback"}, 400, `policy name "x-failback" ends in -failback, which is kept for the failback twins`},
			{"too long", map[string]any{"name": strings.Repeat("a", 55)}, 400, `policy name "` + strings.Repeat("a", 55) + `" is longer than 54 characters (its failback twin needs the rest)`},
			{"rpo low", map[string]any{"name": "s", "rpo_threshold_seconds": 59}, 400, "rpo_threshold_seconds must be between 60 (1m0s) and 86400 (24h0m0s), got 59"},
			{"retention high", map[string]any{"name": "s", "retention_seconds": 30*86400 + 1}, 400, "retention_seconds must be between 3600 (1h0m0s) and 2592000 (720h0m0s), got 2592001"},
			{"app low", map[string]any{"name": "s", "app_consistent_frequency_seconds": 60}, 400, "app_consistent_frequency_seconds must be between 300 (5m0s) and 43200 (12h0m0s), got 60"},
			{"crash low", map[string]any{"name": "s", "crash_consistent_frequency_seconds": 10}, 400, "crash_consistent_frequency_seconds must be between 30 (30s) and 3600 (1h0m0s), got 10"},
			{"app over retention", map[string]any{"name": "s", "retention_seconds": 3600, "app_consistent_frequency_seconds": 7200}, 400, "app_consistent_frequency_seconds (7200) must not exceed retention_seconds (3600): no app-consistent point would be kept"},
			{"crash over rpo", map[string]any{"name": "s", "rpo_threshold_seconds": 300, "crash_consistent_frequency_seconds": 600}, 400, "crash_consistent_frequency_seconds (600) must not exceed rpo_threshold_seconds (300): the RPO alert would fire between points"},
			{"wrong type", map[string]any{"name": "s", "retention_seconds": "24h"}, 400, `field "retention_seconds" must be an integer`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.with(t)
				before := e.snapshot()
				e.expectError("POST", "/vaults/lab/policies", own, tc.body, tc.status, tc.msg)
				if e.snapshot() != before {
					t.Fatal("database changed")
				}
			})
		}
		e.decodeInto(e.mustDo("POST", "/vaults/lab/policies", own, map[string]any{"name": "fast", "rpo_threshold_seconds": 300, "retention_seconds": 7200, "app_consistent_frequency_seconds": 1800, "crash_consistent_frequency_seconds": 30}, 201), &p)
		if p.CrashConsistentSeconds != 30 || p.RetentionSeconds != 7200 {
			t.Fatalf("fast: %+v", p)
		}
		e.expectError("GET", "/vaults/lab/policies/none", own, nil, 404, "policy none does not exist")
		e.expectError("DELETE", "/vaults/lab/policies/gold-failback", own, nil, 409, "policy gold-failback is a failback twin: delete gold instead")
		e.expectError("POST", "/vaults/lab/policies/gold/associations", own, AssociateRequest{ConfigServer: "cs9"}, 404, "configuration server cs9 does not exist")
		e.register("lab", "cs1")
		e.decodeInto(e.mustDo("POST", "/vaults/lab/policies/gold/associations", own, AssociateRequest{ConfigServer: "cs1"}, 200), &p)
		if len(p.ConfigServers) != 1 || p.ConfigServers[0] != "cs1" {
			t.Fatalf("associated: %+v", p)
		}
		e.decodeInto(e.mustDo("GET", "/vaults/lab/policies/gold-failback", own, nil, 200), &p)
		if len(p.ConfigServers) != 1 {
			t.Fatalf("twin not associated: %+v", p)
		}
		e.expectError("POST", "/vaults/lab/policies/gold/associations", own, AssociateRequest{ConfigServer: "cs1"}, 409, "policy gold is already associated with configuration server cs1")
		e.mustDo("DELETE", "/vaults/lab/policies/gold", own, nil, 204)
		e.decodeInto(e.mustDo("GET", "/vaults/lab/policies", own, nil, 200), &list)
		if len(list) != 2 || list[0].Name != "fast" || list[1].Name != "fast-failback" {
			t.Fatalf("after delete: %+v", list)
		}
	})
}

func TestBadBodies(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		own := e.tokens[RoleOwner]
		e.createVault("lab")
		big := `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
		for _, tc := range []struct {
			name, path, body string
			status           int
			msg              string
		}{
			{"malformed", "/vaults", `{"name": "x",`, 400, "request body is not valid JSON: unexpected EOF"},
			{"syntax", "/vaults", `{"name" "x"}`, 400, "request body is not valid JSON: invalid character '\"' after object key"},
			{"unknown field", "/vaults", `{"name": "x", "storage_url": "file:///tmp/x", "colour": "red"}`, 400, `request body has an unknown field "colour"`},
			{"wrong type", "/vaults", `{"name": 7}`, 400, `field "name" must be a string`},
			{"array", "/vaults", `[1, 2]`, 400, "request body must be a JSON object"},
			{"empty", "/vaults", ``, 400, "request body is empty"},
			{"trailing", "/vaults", `{"name": "x"} {}`, 400, "request body has data after the JSON object"},
			{"oversized", "/vaults", big, 413, "request body is larger than 1048576 bytes"},
			{"policy wrong type", "/vaults/lab/policies", `{"name": "p", "rpo_threshold_seconds": 1.5}`, 400, `field "rpo_threshold_seconds" must be an integer`},
			{"user wrong type", "/users", `{"name": ["a"]}`, 400, `field "name" must be a string`},
			{"enable unknown", "/vaults/lab/protected-items", `{"machine": "m", "policy": "p", "force": true}`, 400, `request body has an unknown field "force"`},
			{"registration malformed", "/registrations", `{"registration_key": 5}`, 400, `field "registration_key" must be a string`},
			{"registration time", "/registrations", `{"client_time": "yesterday"}`, 400, `request body holds a time that is not RFC 3339: "yesterday"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.with(t)
				before := e.snapshot()
				e.expectError("POST", tc.path, own, tc.body, tc.status, tc.msg)
				if e.snapshot() != before {
					t.Fatal("database changed")
				}
			})
		}
	})
}

func TestUsersAndTokens(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		own, rd := e.tokens[RoleOwner], e.tokens[RoleReader]
		e.expectError("POST", "/users", own, AddUserRequest{Name: "bob", Role: "admin"}, 400, `role "admin" is not known (owner, contributor, operator or reader)`)
		e.expectError("POST", "/users", own, AddUserRequest{Name: "bob", Role: "reader", Password: "short"}, 400, "password must be at least 12 characters")
		e.expectError("POST", "/users", own, AddUserRequest{Name: "reader1", Role: "reader"}, 409, "user reader1 already exists")
		e.mustDo("POST", "/users", own, AddUserRequest{Name: "bob", Role: "operator", Password: "correct horse battery"}, 201)
		e.expectError("POST", "/login", "", LoginRequest{User: "bob", Password: "wrong password!"}, 401, "user name or password is wrong")
		e.expectError("POST", "/login", "", LoginRequest{User: "nobody", Password: "x"}, 401, "user name or password is wrong")
		var tok Token
		e.decodeInto(e.mustDo("POST", "/login", "", LoginRequest{User: "bob", Password: "correct horse battery"}, 201), &tok)
		var who map[string]string
		e.decodeInto(e.mustDo("GET", "/whoami", tok.Secret, nil, 200), &who)
		if who["user"] != "bob" || who["role"] != "operator" {
			t.Fatalf("whoami: %v", who)
		}
		// Tokens are stored as hashes only.
		var n int
		e.svc.db.QueryRow(t.Context(), `SELECT COUNT(*) FROM tokens WHERE hash = ? OR hash = ?`, tok.Secret, tokenHash(tok.Secret)).Scan(&n)
		var raw int
		e.svc.db.QueryRow(t.Context(), `SELECT COUNT(*) FROM tokens WHERE hash = ?`, tok.Secret).Scan(&raw)
		if n != 1 || raw != 0 {
			t.Fatalf("token storage: %d matches, %d raw", n, raw)
		}
		var hash string
		e.svc.db.QueryRow(t.Context(), `SELECT password_hash FROM users WHERE name = 'bob'`).Scan(&hash)
		if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(hash, "horse") {
			t.Fatalf("password hash %q", hash)
		}
		// Login tokens expire after 12 hours (fake clock).
		e.clk.Advance(12 * time.Hour)
		e.expectError("GET", "/whoami", tok.Secret, nil, 401, "API token has expired")
		// A reader creates and revokes its own tokens, not others'.
		var mine Token
		e.decodeInto(e.mustDo("POST", "/tokens", rd, CreateTokenRequest{Name: "ci"}, 201), &mine)
		e.expectError("POST", "/tokens", rd, CreateTokenRequest{User: "admin"}, 403, "only an owner may create tokens for another user")
		var list []Token
		e.decodeInto(e.mustDo("GET", "/tokens", rd, nil, 200), &list)
		if len(list) != 2 || list[0].Secret != "" {
			t.Fatalf("reader's tokens: %+v", list)
		}
		var ownerList []Token
		e.decodeInto(e.mustDo("GET", "/tokens", own, nil, 200), &ownerList)
		var adminTok string
		for _, tk := range ownerList {
			if tk.User == "admin" {
				adminTok = tk.ID
			}
		}
		e.expectError("DELETE", "/tokens/"+adminTok, rd, nil, 404, "token "+adminTok+" does not exist")
		e.mustDo("DELETE", "/tokens/"+mine.ID, rd, nil, 204)
		e.expectError("GET", "/whoami", mine.Secret, nil, 401, "missing or invalid API token")
		e.expectError("DELETE", "/users/admin", own, nil, 409, "user admin is the last owner and cannot be removed")
		e.expectError("DELETE", "/users/ghost", own, nil, 404, "user ghost does not exist")
		e.mustDo("DELETE", "/users/reader1", own, nil, 204)
		e.expectError("GET", "/vaults", rd, nil, 401, "missing or invalid API token")
		var users []User
		e.decodeInto(e.mustDo("GET", "/users", own, nil, 200), &users)
		names := []string{}
		for _, u := range users {
			names = append(names, u.Name+":"+string(u.Role))
		}
		if strings.Join(names, ",") != "admin:owner,bob:operator,contributor1:contributor,operator1:operator" {
			t.Fatalf("users: %v", names)
		}
		b, _ := json.Marshal(users)
		if strings.Contains(string(b), "argon2") {
			t.Fatal("password hash in the user list")
		}
		_ = http.StatusOK
	})
}

// TestFailedAttemptsLimited: ten failed sign-ins from one address within a minute lock it out of
// sign-in and registration until the minute has passed (fake clock); the right password then works.
func TestFailedAttemptsLimited(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.mustDo("POST", "/users", e.tokens[RoleOwner], AddUserRequest{Name: "bob", Role: "reader", Password: "correct horse battery"}, 201)
	for range 10 {
		e.expectError("POST", "/login", "", LoginRequest{User: "bob", Password: "guess guess guess"}, 401, "user name or password is wrong")
	}
	e.clk.Advance(20 * time.Second)
	e.expectError("POST", "/login", "", LoginRequest{User: "bob", Password: "correct horse battery"}, 429, "too many failed attempts from 127.0.0.1: try again in 40s")
	e.expectError("POST", "/registrations", "", RegisterRequest{RegistrationKey: "junk"}, 429, "too many failed attempts from 127.0.0.1: try again in 40s")
	e.clk.Advance(40 * time.Second)
	e.mustDo("POST", "/login", "", LoginRequest{User: "bob", Password: "correct horse battery"}, 201)
}
