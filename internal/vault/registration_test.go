package vault

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/regkey"
)

func TestRegistration(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		e.createVault("lab")
		key := e.regKey("lab")
		k, err := regkey.Parse(key)
		if err != nil {
			t.Fatal(err)
		}
		if k.CASHA256 != e.svc.RootCAFingerprint() || k.VaultURLs[0] != strings.TrimSuffix(e.base, APIPrefix) || !k.Expires.Equal(k.Issued.Add(5*24*time.Hour)) {
			t.Fatalf("key: %+v", k.Key)
		}
		// The vault's TLS chain carries the root, so the key's fingerprint pins it.
		conn, err := tls.Dial("tcp", strings.TrimPrefix(k.VaultURLs[0], "https://"), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		chain := conn.ConnectionState().PeerCertificates
		conn.Close()
		if len(chain) != 2 || pki.CertSHA256(chain[1]) != k.CASHA256 {
			t.Fatalf("chain of %d certificates does not end in the pinned root", len(chain))
		}

		_, csr := newCSR(t)
		req := RegisterRequest{RegistrationKey: key, Name: "cs1", Hostname: "cs1.lab", CSRPEM: csr, ClientTime: e.clk.Now()}
		payload64, sig64, _ := strings.Cut(strings.TrimPrefix(key, regkey.Prefix), ".")
		raw, _ := base64.RawURLEncoding.DecodeString(payload64)
		tampered := regkey.Prefix + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"vault_name":"lab"`, `"vault_name":"lab2"`, 1))) + "." + sig64
		for _, tc := range []struct {
			name   string
			mod    func(r *RegisterRequest)
			status int
			msg    string
		}{
			{"malformed", func(r *RegisterRequest) { r.RegistrationKey = "junk" }, 400, `registration key is malformed: it does not start with "osr-regkey-1."`},
			{"tampered", func(r *RegisterRequest) { r.RegistrationKey = tampered }, 401, "registration key signature is invalid"},
			{"bad name", func(r *RegisterRequest) { r.Name = "CS 1" }, 400, `configuration server name "CS 1" is not valid: use 1 to 63 characters a-z, 0-9, '.', '-', starting with a letter or digit`},
			{"bad csr", func(r *RegisterRequest) { r.CSRPEM = "nope" }, 400, "csr_pem: not a PEM CERTIFICATE REQUEST"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.with(t)
				r := req
				tc.mod(&r)
				before := e.snapshot()
				e.expectError("POST", "/registrations", "", r, tc.status, tc.msg)
				if e.snapshot() != before {
					t.Fatal("database changed")
				}
			})
		}
		var resp RegisterResponse
		e.decodeInto(e.mustDo("POST", "/registrations", "", req, 201), &resp)
		if !strings.HasPrefix(resp.ConfigServerID, "cs-") || resp.VaultName != "lab" || resp.RootCAPEM != string(e.svc.RootCAPEM()) || !strings.Contains(resp.CACertPEM, "BEGIN CERTIFICATE") {
			t.Fatalf("response: %+v", resp)
		}
		// Single use, whatever the body.
		before := e.snapshot()
		req.Name = "cs2"
		e.expectError("POST", "/registrations", "", req, 409, "registration key has already been used")
		if e.snapshot() != before {
			t.Fatal("database changed by a reused key")
		}
		// A second key for the same name.
		req.RegistrationKey, req.Name = e.regKey("lab"), "cs1"
		e.expectError("POST", "/registrations", "", req, 409, "configuration server cs1 is already registered")
		var css []ConfigServer
		e.decodeInto(e.mustDo("GET", "/vaults/lab/config-servers", e.tokens[RoleReader], nil, 200), &css)
		if len(css) != 1 || css[0].Name != "cs1" || css[0].Status != "disconnected" || css[0].Hostname != "cs1.lab" {
			t.Fatalf("config servers: %+v", css)
		}
		// Expiry, by the vault's (fake) clock.
		req.RegistrationKey, req.Name = e.regKey("lab"), "cs3"
		exp := e.clk.Now().Add(regkey.Validity).Format(time.RFC3339)
		e.clk.Advance(regkey.Validity)
		e.expectError("POST", "/registrations", "", req, 410, "registration key has expired (expired "+exp+")")
	})
}

func TestConfigServerEndpoints(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		e.createVault("lab")
		cs := e.register("lab", "cs1")
		hb := Heartbeat{Time: e.clk.Now(), ProcessServers: []PSHealth{{Name: "ps1", Address: "10.0.0.5:9443", LastSeen: e.clk.Now(), CPUPercent: 10, MemoryPercent: 20, CacheFreePercent: 90}},
			Agents: []AgentStatus{{Machine: "web01", ProcessServer: "ps1", LastSeen: e.clk.Now()}}}
		var hr HeartbeatResponse
		e.decodeInto(mustDoWith(e, cs.client, "POST", "/cs/heartbeat", hb, 200), &hr)
		if hr.DesiredStateVersion != 1 {
			t.Fatalf("heartbeat: %+v", hr)
		}
		mustDoWith(e, cs.client, "PUT", "/cs/inventory", Inventory{Machines: []Machine{{Name: "web01", Hostname: "web01.lab", OS: "linux", Source: "agent", Disks: []MachineDisk{{Name: "sda", SizeBytes: 1 << 30}}}}}, 204)
		var ms []Machine
		e.decodeInto(e.mustDo("GET", "/vaults/lab/machines", e.tokens[RoleReader], nil, 200), &ms)
		if len(ms) != 1 || ms[0].Name != "web01" || ms[0].ConfigServer != "cs1" || ms[0].Disks[0].SizeBytes != 1<<30 || ms[0].Protected {
			t.Fatalf("machines: %+v", ms)
		}
		var css []ConfigServer
		e.decodeInto(e.mustDo("GET", "/vaults/lab/config-servers", e.tokens[RoleReader], nil, 200), &css)
		if css[0].Status != "connected" || len(css[0].Heartbeat.ProcessServers) != 1 {
			t.Fatalf("config server: %+v", css[0])
		}
		var ds DesiredState
		e.decodeInto(mustDoWith(e, cs.client, "GET", "/cs/desired-state", nil, 200), &ds)
		pw, _ := e.svc.storePassword(t.Context(), ds.VaultID)
		if ds.Version != 1 || len(ds.Items) != 0 || !strings.HasPrefix(ds.Storage.URL, "file://") || ds.Storage.Password != base64.StdEncoding.EncodeToString(pw) {
			t.Fatalf("desired: %+v", ds)
		}
		for _, tc := range []struct {
			name   string
			client *http.Client
			method string
			path   string
			body   any
			status int
			msg    string
		}{
			{"no certificate", e.client, "GET", "/cs/desired-state", nil, 401, "this endpoint needs a configuration server client certificate"},
			{"agent role", e.leafClient(cs, "agent", "web01"), "GET", "/cs/desired-state", nil, 403, `client certificate has role "agent", this endpoint needs config-server`},
			{"bad percent", cs.client, "POST", "/cs/heartbeat", Heartbeat{ProcessServers: []PSHealth{{Name: "ps1", CPUPercent: 120}}}, 400, "process server ps1: cpu_percent must be between 0 and 100, got 120"},
			{"bad state", cs.client, "POST", "/cs/heartbeat", Heartbeat{Items: []ItemReport{{Machine: "web01", State: "failed-over"}}}, 400, `item web01: state "failed-over" is not one a configuration server reports`},
			{"protected without point", cs.client, "POST", "/cs/heartbeat", Heartbeat{Items: []ItemReport{{Machine: "web01", State: "protected"}}}, 400, "item web01: state protected needs last_point_time"},
			{"duplicate machine", cs.client, "PUT", "/cs/inventory", Inventory{Machines: []Machine{{Name: "a", Source: "agent"}, {Name: "a", Source: "agent"}}}, 400, "machine a is listed twice"},
			{"bad source", cs.client, "PUT", "/cs/inventory", Inventory{Machines: []Machine{{Name: "a", Source: "cloud"}}}, 400, `machine a: source "cloud" is not physical, vcenter or agent`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.with(t)
				before := e.snapshot()
				st, b := e.doWith(tc.client, tc.method, tc.path, "", tc.body)
				if st != tc.status || errorOf(t, b) != tc.msg {
					t.Fatalf("got %d %s, want %d %q", st, b, tc.status, tc.msg)
				}
				if e.snapshot() != before {
					t.Fatal("database changed")
				}
			})
		}
		// A second configuration server cannot claim web01.
		cs2 := e.register("lab", "cs2")
		st, b := e.doWith(cs2.client, "PUT", "/cs/inventory", "", Inventory{Machines: []Machine{{Name: "web01", Source: "agent"}}})
		if st != 409 || errorOf(t, b) != "machine web01 is already in the inventory of configuration server cs1" {
			t.Fatalf("claim: %d %s", st, b)
		}
	})
}

func mustDoWith(e *env, c *http.Client, method, path string, body any, want int) []byte {
	e.t.Helper()
	st, b := e.doWith(c, method, path, "", body)
	if st != want {
		e.t.Fatalf("%s %s: %d, want %d: %s", method, path, st, want, b)
	}
	return b
}

// TestRegistrationKeyRace: the same key sent twice at once admits exactly one configuration server.
func TestRegistrationKeyRace(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		e.createVault("lab")
		for round := range 5 {
			key := e.regKey("lab")
			statuses := make(chan int, 2)
			for i := range 2 {
				_, csr := newCSR(t)
				req := RegisterRequest{RegistrationKey: key, Name: fmt.Sprintf("cs-%d-%d", round, i), CSRPEM: csr}
				go func() {
					st, _ := e.do("POST", "/registrations", "", req)
					statuses <- st
				}()
			}
			a, b := <-statuses, <-statuses
			if a+b != 201+409 {
				t.Fatalf("round %d: statuses %d and %d, want one 201 and one 409", round, a, b)
			}
		}
		var css []ConfigServer
		e.decodeInto(e.mustDo("GET", "/vaults/lab/config-servers", e.tokens[RoleOwner], nil, 200), &css)
		if len(css) != 5 {
			t.Fatalf("%d configuration servers registered with 5 keys", len(css))
		}
	})
}
