package portal

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/regkey"
	"github.com/opensiterecovery/osr/internal/storage/backends"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/vault"
)

// newEnv starts the real vault service (SQLite in a temporary directory) with the portal mounted
// at / on HTTPS, 127.0.0.1:0, with its own CA, and one user per role (NAME1, password(role)).
func newEnv(t testing.TB) *testEnv { return newEnvWith(t, Config{}) }

// newEnvWith is newEnv with the portal configured by cfg.
func newEnvWith(t testing.TB, cfg Config) *testEnv {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Now().UTC().Truncate(time.Second))
	// The portal calls the service's handler, which mounts the portal: break the cycle with a
	// handler set once the service exists.
	var api http.Handler
	p, err := New(cfg, Deps{API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.ServeHTTP(w, r) }), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := vault.New(vault.Config{
		DB: filepath.Join(dir, "vault.db"), MasterKeyFile: filepath.Join(dir, "master.key"),
		URLs: []string{"https://" + ln.Addr().String()}, Hosts: []string{"127.0.0.1"},
		Portal:       p.Handler(),
		StoreOptions: store.Options{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}},
	}, vault.Deps{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	api = svc.Handler()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done; svc.Close() })

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(svc.RootCAPEM())
	base := "https://" + ln.Addr().String()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 30 * time.Second}
	admin, err := svc.Bootstrap(ctx)
	if err != nil || admin == "" {
		t.Fatalf("bootstrap: %q %v", admin, err)
	}
	apiDo := func(t testing.TB, method, path string, body any, want int, out any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+"/api/v1"+path, rd)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, r := range roles {
		apiDo(t, "POST", "/users", map[string]string{"name": r + "1", "role": r, "password": password(r)}, 201, nil)
	}
	storage := func(t testing.TB, name string) string {
		return (&url.URL{Scheme: "file", Path: filepath.Join(dir, "storage-"+name)}).String()
	}
	vaultID := func(t testing.TB, name string) string {
		var v Vault
		apiDo(t, "GET", "/vaults/"+name, nil, 200, &v)
		return v.ID
	}
	css := map[string]string{} // vault ID → configuration server ID
	report := func(t testing.TB, vid string, hb vault.Heartbeat) {
		if _, err := svc.ConfigServerHeartbeat(vault.WithActor(ctx, vault.Actor{ConfigServer: css[vid], VaultID: vid}), hb); err != nil {
			t.Fatal(err)
		}
	}
	// register admits configuration server cs1 with key, as its install does, then sends its
	// inventory (machine and db01) and a first heartbeat (process server ps1, healthy).
	register := func(t testing.TB, vid, key, machine string) {
		ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cs1"}}, ck)
		if err != nil {
			t.Fatal(err)
		}
		reg, err := svc.Register(ctx, vault.RegisterRequest{RegistrationKey: key, Name: "cs1", Hostname: "cs1.example.net",
			CSRPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), ClientTime: clk.Now()})
		if err != nil {
			t.Fatalf("register with the registration key: %v", err)
		}
		css[vid] = reg.ConfigServerID
		// What the configuration server's mTLS endpoints would be called with.
		csCtx := vault.WithActor(ctx, vault.Actor{ConfigServer: reg.ConfigServerID, VaultID: vid})
		if err := svc.ConfigServerInventory(csCtx, vault.Inventory{Machines: []vault.Machine{
			{Name: machine, Hostname: machine + ".example.net", OS: "linux", Source: "agent", Disks: []vault.MachineDisk{{Name: "sda", SizeBytes: 20 << 30}}},
			{Name: "db01", Hostname: "db01.example.net", OS: "linux", Source: "agent"},
		}}); err != nil {
			t.Fatal(err)
		}
		report(t, vid, initialReport(clk.Now(), machine, -1))
	}
	return &testEnv{
		url:         base,
		tls:         &tls.Config{RootCAs: roots},
		failoverDir: t.TempDir(),
		storage:     storage,
		vaultID:     vaultID,
		vault: func(t testing.TB, name string) string {
			var v Vault
			apiDo(t, "POST", "/vaults", vaultCreateRequest{Name: name, StorageURL: storage(t, name)}, 201, &v)
			return v.ID
		},
		// protect registers a configuration server (once per vault) that reports machine in its
		// inventory, associates policy with it, enables replication and reports initial replication.
		register: register,
		routes:   svc.Routes(),
		policy: func(t testing.TB, vid, name string) string {
			apiDo(t, "POST", "/vaults/"+vid+"/policies", policyRequest{Name: name, RPOThresholdSeconds: 900, RetentionSeconds: 86400, AppConsistentSeconds: 3600}, 201, nil)
			return name
		},
		seedItems: func(t testing.TB, vid, policy string, n int) {
			var rk struct {
				Key string `json:"key"`
			}
			apiDo(t, "POST", "/vaults/"+vid+"/registration-keys", nil, 201, &rk)
			register(t, vid, rk.Key, "m0000")
			inv := vault.Inventory{}
			for i := range n {
				inv.Machines = append(inv.Machines, vault.Machine{Name: fmt.Sprintf("m%04d", i), OS: "linux", Source: "agent"})
			}
			csCtx := vault.WithActor(ctx, vault.Actor{ConfigServer: css[vid], VaultID: vid})
			if err := svc.ConfigServerInventory(csCtx, inv); err != nil {
				t.Fatal(err)
			}
			apiDo(t, "POST", "/vaults/"+vid+"/policies/"+policy+"/associations", associateRequest{ConfigServer: "cs1"}, 200, nil)
			hb := initialReport(clk.Now(), "m0000", -1)
			for _, m := range inv.Machines {
				apiDo(t, "POST", "/vaults/"+vid+"/protected-items", enableRequest{Machine: m.Name, Policy: policy}, 201, nil)
				hb.Items = append(hb.Items, vault.ItemReport{Machine: m.Name, State: "initial-replication", InitialPercent: 50})
			}
			report(t, vid, hb)
		},
		protect: func(t testing.TB, vid, machine, policy string) {
			if _, ok := css[vid]; !ok {
				var rk struct {
					Key string `json:"key"`
				}
				apiDo(t, "POST", "/vaults/"+vid+"/registration-keys", nil, 201, &rk)
				register(t, vid, rk.Key, machine)
			}
			apiDo(t, "POST", "/vaults/"+vid+"/policies/"+policy+"/associations", associateRequest{ConfigServer: "cs1"}, 200, nil)
			apiDo(t, "POST", "/vaults/"+vid+"/protected-items", enableRequest{Machine: machine, Policy: policy}, 201, nil)
			report(t, vid, initialReport(clk.Now(), machine, 42.5))
		},
		point: func(t testing.TB, vid, machine string, consistency string, at time.Time) string {
			css := css[vid]
			ds, err := svc.ConfigServerDesiredState(vault.WithActor(ctx, vault.Actor{ConfigServer: css, VaultID: vid}))
			if err != nil {
				t.Fatal(err)
			}
			pw, err := base64.StdEncoding.DecodeString(ds.Storage.Password)
			if err != nil {
				t.Fatal(err)
			}
			be, err := backends.Open(ctx, ds.Storage.URL, backends.Options{})
			if err != nil {
				t.Fatal(err)
			}
			repo, err := store.Open(ctx, be, pw, store.Options{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}})
			if err != nil {
				t.Fatal(err)
			}
			w, err := repo.NewWriter(ctx, machine, nil, []store.DiskSpec{{Name: "sda", Size: 1 << 20}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Disk("sda").WriteAt(bytes.Repeat([]byte("osr"), 4096), 8192); err != nil {
				t.Fatal(err)
			}
			pt, err := w.Commit(ctx, store.CommitMeta{Time: at, Consistency: store.Consistency(consistency)})
			if err != nil {
				t.Fatal(err)
			}
			return pt.ID
		},
		report: report,
		inventory: func(t testing.TB, vid string, inv vault.Inventory) {
			if err := svc.ConfigServerInventory(vault.WithActor(ctx, vault.Actor{ConfigServer: css[vid], VaultID: vid}), inv); err != nil {
				t.Fatal(err)
			}
		},
		evaluate: func(t testing.TB) {
			if err := svc.EvaluateAlerts(ctx); err != nil {
				t.Fatal(err)
			}
		},
		clock: clk,
		checkKey: func(t testing.TB, vid, text string) {
			k, err := regkey.Parse(strings.TrimSpace(text))
			if err != nil {
				t.Fatalf("downloaded registration key: %v", err)
			}
			if k.VaultID != vid || !reflectEqual(k.VaultURLs, []string{base}) || k.CASHA256 != svc.RootCAFingerprint() {
				t.Errorf("registration key: vault %s urls %v ca %s", k.VaultID, k.VaultURLs, k.CASHA256)
			}
			if d := k.Expires.Sub(k.Issued); d != regkey.Validity {
				t.Errorf("registration key valid for %v", d)
			}
		},
	}
}

// initialReport is a heartbeat with a healthy process server ps1, machine's agent, and machine in
// initial replication at pct (no item when pct < 0).
func initialReport(now time.Time, machine string, pct float64) vault.Heartbeat {
	hb := vault.Heartbeat{Time: now,
		ProcessServers: []vault.PSHealth{{Name: "ps1", Address: "10.0.0.5:9443", LastSeen: now, CPUPercent: 12.5, MemoryPercent: 40, CacheFreePercent: 71, UploadBacklogBytes: 100 << 20, UploadDrainSeconds: 120}},
		Agents:         []vault.AgentStatus{{Machine: machine, ProcessServer: "ps1", LastSeen: now, Version: "0.1.0"}},
	}
	if pct >= 0 {
		hb.Items = []vault.ItemReport{{Machine: machine, State: "initial-replication", InitialPercent: pct}}
	}
	return hb
}

func reflectEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
