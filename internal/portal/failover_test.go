package portal

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/failover"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/target/local"
	"github.com/opensiterecovery/osr/internal/vault"
)

// foEnv is the vault service with the portal and the failover endpoints (the local provider),
// a vault lab and a protected machine web01 with one recovery point.
type foEnv struct {
	url     string
	tls     *tls.Config
	vaultID string
	pointID string
	img     []byte
	out     string
}

func newFailoverEnv(t *testing.T) *foEnv {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var api http.Handler
	p, err := New(Config{RefreshInterval: time.Second}, Deps{API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.ServeHTTP(w, r) }), Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	fapi := &failover.API{}
	svc, err := vault.New(vault.Config{DB: filepath.Join(dir, "vault.db"), MasterKeyFile: filepath.Join(dir, "master.key"),
		URLs: []string{"https://" + ln.Addr().String()}, Hosts: []string{"127.0.0.1"}, Portal: p.Handler(), ExtraRoutes: fapi.Routes(),
		StoreOptions: store.Options{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}}}, vault.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := failover.New(failover.Config{Vault: svc, Providers: map[string]failover.Factory{
		"local": func(tc failover.TargetConfig) (target.Provider, error) {
			c, err := local.ConfigFromSettings(tc.Settings)
			if err != nil {
				return nil, err
			}
			return local.New(c)
		}}}, failover.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	fapi.Bind(fs)
	api = svc.Handler()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { fs.Close(); cancel(); <-done; svc.Close() })
	if _, err := svc.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range roles {
		if _, err := svc.AddUser(ctx, vault.AddUserRequest{Name: r + "1", Role: r, Password: password(r)}); err != nil {
			t.Fatal(err)
		}
	}
	e := &foEnv{url: "https://" + ln.Addr().String(), out: filepath.Join(dir, "out")}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(svc.RootCAPEM())
	e.tls = &tls.Config{RootCAs: roots}
	v, err := svc.CreateVault(ctx, vault.CreateVaultRequest{Name: "lab", StorageURL: (&url.URL{Scheme: "file", Path: filepath.Join(dir, "storage")}).String()})
	if err != nil {
		t.Fatal(err)
	}
	e.vaultID = v.ID
	rk, err := svc.CreateRegistrationKey(ctx, "lab")
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cs"}}, k)
	reg, err := svc.Register(ctx, vault.RegisterRequest{RegistrationKey: rk.Key, Name: "cs1", Hostname: "cs1", ClientTime: time.Now(),
		CSRPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
	if err != nil {
		t.Fatal(err)
	}
	cs := vault.WithActor(ctx, vault.Actor{ConfigServer: reg.ConfigServerID, VaultID: v.ID})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(svc.ConfigServerInventory(cs, vault.Inventory{Machines: []vault.Machine{{Name: "web01", OS: "linux", Source: "agent", Addresses: []string{"10.0.0.21/24"},
		Disks: []vault.MachineDisk{{Name: "sda", SizeBytes: 1 << 20}}}}}))
	_, err = svc.CreatePolicy(ctx, "lab", vault.CreatePolicyRequest{Name: "gold"})
	must(err)
	_, err = svc.AssociatePolicy(ctx, "lab", "gold", vault.AssociateRequest{ConfigServer: "cs1"})
	must(err)
	_, err = svc.EnableReplication(ctx, "lab", vault.EnableRequest{Machine: "web01", Policy: "gold"})
	must(err)
	_, repo, err := svc.VaultRepo(ctx, "lab")
	must(err)
	e.img = make([]byte, 1<<20)
	copy(e.img[4096:], strings.Repeat("osr portal failover ", 1000))
	w, err := repo.NewWriter(ctx, "web01", nil, []store.DiskSpec{{Name: "sda", Size: 1 << 20}})
	must(err)
	_, err = w.Disk("sda").WriteAt(e.img, 0)
	must(err)
	pt, err := w.Commit(ctx, store.CommitMeta{Time: time.Now().Add(-time.Minute), Consistency: store.AppConsistent})
	must(err)
	e.pointID = pt.ID
	lpt := pt.Time
	_, err = svc.ConfigServerHeartbeat(cs, vault.Heartbeat{Time: time.Now(), Items: []vault.ItemReport{{Machine: "web01", State: "protected", InitialPercent: 100, LastPointTime: &lpt, LastPointID: pt.ID}}})
	must(err)
	_, err = fs.AddTarget(ctx, "lab", failover.AddTargetRequest{Name: "local1", Provider: "local", Settings: map[string]string{"dir": e.out}})
	must(err)
	_, err = fs.AddMapping(ctx, "lab", failover.AddMappingRequest{SourceNetwork: "default", TargetNetwork: "dr-net", TestNetwork: "dr-test"})
	must(err)
	return e
}

// waitJobPage follows a job's page until it is not running.
func waitJobPage(t *testing.T, c *webClient, path string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a := c.get(path)
		if a.Status != http.StatusOK {
			t.Fatalf("%s: %d\n%s", path, a.Status, a.Body)
		}
		if !strings.Contains(a.Body, `<span class="badge job-running">`) {
			return a.Body
		}
		if time.Now().After(deadline) {
			t.Fatalf("job at %s still running", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFailoverPage: from the item page to a test failover, its cleanup, a failover, commit and
// migration completion in the portal; a reader sees the status without the forms.
func TestFailoverPage(t *testing.T) {
	e := newFailoverEnv(t)
	v := "/vaults/" + e.vaultID
	c := newWebClient(t, e.url, e.tls)
	tok := c.login("operator1", password("operator"))
	mustContain(t, "item page", c.get(v+"/items/web01").Body, `href="`+v+`/items/web01/failover">Failover</a>`)
	a := c.get(v + "/items/web01/failover")
	mustContain(t, "failover page", a.Body, "<h1>Failover of web01</h1>", "Start test failover", "Start failover", `<option value="`+e.pointID+`">`, "dr-test", `<option value="local1">local1 (local)</option>`)
	mustNotContain(t, "failover page", a.Body, "Commit failover", "Complete migration")

	a = c.post(v+"/items/web01/failover/test", url.Values{"csrf": {tok}, "point": {"latest-app-consistent"}, "target": {"local1"}})
	if a.Status != http.StatusSeeOther || !strings.HasPrefix(a.Location, v+"/jobs/job-") {
		t.Fatalf("test failover: %d %q\n%s", a.Status, a.Location, a.Body)
	}
	body := waitJobPage(t, c, a.Location)
	mustContain(t, "test job", body, `<span class="badge job-succeeded">`, "test failover of web01 at point "+e.pointID[:12])
	a = c.get(v + "/items/web01/failover")
	mustContain(t, "after test", a.Body, "Test failover: succeeded", "Clean up test failover", "nic0 → dr-test (keep 10.0.0.21/24)")
	mustNotContain(t, "after test", a.Body, "Start test failover")
	// The API's refusal is shown on the page with its status.
	a = c.post(v+"/items/web01/failover/run", url.Values{"csrf": {tok}, "point": {"0badc0de00"}, "target": {"local1"}})
	if a.Status != http.StatusNotFound {
		t.Fatalf("unknown point: %d", a.Status)
	}
	mustContain(t, "unknown point", a.Body, `<p class="error" role="alert">machine web01 has no recovery point 0badc0de00</p>`)

	a = c.post(v+"/items/web01/failover/cleanup", url.Values{"csrf": {tok}})
	mustContain(t, "cleanup job", waitJobPage(t, c, a.Location), "test failover of web01 removed from target local1")
	a = c.post(v+"/items/web01/failover/run", url.Values{"csrf": {tok}, "point": {e.pointID}, "target": {"local1"}})
	mustContain(t, "failover job", waitJobPage(t, c, a.Location), "failover of web01 at point "+e.pointID[:12])
	a = c.get(v + "/items/web01/failover")
	mustContain(t, "after failover", a.Body, "Failover: succeeded", "Commit failover", "Change recovery point", "Complete migration", "nic0 → dr-net (keep 10.0.0.21/24)")
	var res string
	if i := strings.Index(a.Body, `<dt>Disks</dt><dd><code>`); i >= 0 {
		res = a.Body[i+len(`<dt>Disks</dt><dd><code>`):]
		res = res[:strings.Index(res, "</code>")]
	}
	if got, err := os.ReadFile(res); err != nil || string(got) != string(e.img) {
		t.Fatalf("failed-over disk %q differs from the point (%v)", res, err)
	}
	a = c.post(v+"/items/web01/failover/commit", url.Values{"csrf": {tok}})
	if a.Status != http.StatusSeeOther {
		t.Fatalf("commit: %d\n%s", a.Status, a.Body)
	}
	mustContain(t, "committed", c.get(a.Location).Body, "The failover of web01 is committed.", "Failover: committed")
	a = c.post(v+"/items/web01/failover/complete", url.Values{"csrf": {tok}})
	mustContain(t, "completed", c.get(a.Location).Body, "The migration of web01 is completed", "Failover: migration-completed")

	r := newWebClient(t, e.url, e.tls)
	rtok := r.login("reader1", password("reader"))
	a = r.get(v + "/items/web01/failover")
	mustContain(t, "reader", a.Body, "Failover: migration-completed", "Your role (reader) may not run failovers.")
	a = r.post(v+"/items/web01/failover/test", url.Values{"csrf": {rtok}})
	if a.Status != http.StatusForbidden {
		t.Fatalf("reader test failover: %d", a.Status)
	}
	mustContain(t, "reader refused", a.Body, "role reader may not do this (needs failover)")
}
