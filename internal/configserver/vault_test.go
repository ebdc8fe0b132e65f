package configserver_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	. "github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/enroll"
	"github.com/opensiterecovery/osr/internal/configserver/prereq"
	"github.com/opensiterecovery/osr/internal/configserver/vaulttest"
	"github.com/opensiterecovery/osr/internal/processserver"
)

func realOpts(t *testing.T, key, dir string, c clock.Clock) InstallOptions {
	return InstallOptions{KeyText: key, DataDir: dir, CacheDir: t.TempDir(), Port: freePort(t), APIPort: freePort(t),
		ListenAddress: "127.0.0.1", Name: "cs1", Hostname: "cs1.example.net", Env: testEnv(c), Clock: c}
}

func TestAgainstRealVault(t *testing.T) {
	ctx := context.Background()
	v := vaulttest.StartVault(t)
	svc, vclock := v.Svc, v.Clock
	cclock := clock.NewFake(time.Now())

	// Expired by the vault's clock (ours still thinks it is valid): the vault refuses, nothing written.
	key := v.Key(t)
	vclock.Advance(5*24*time.Hour + time.Minute)
	dir := filepath.Join(t.TempDir(), "cs")
	_, err := Install(ctx, realOpts(t, key, dir, cclock))
	if err == nil || !strings.HasPrefix(err.Error(), "register with the vault: vault: registration key has expired (expired ") || !strings.HasSuffix(err.Error(), ") (HTTP 410)") {
		t.Fatalf("expired key: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal("a refused registration wrote the data directory")
	}
	vclock.Set(time.Now().UTC().Truncate(time.Second))

	key = v.Key(t)
	res, err := Install(ctx, realOpts(t, key, dir, cclock))
	if err != nil {
		var b strings.Builder
		if res != nil {
			res.Report.WriteTable(&b)
		}
		t.Fatalf("install: %v\n%s", err, b.String())
	}
	if r, _ := res.Report.Get("vault"); r.Status != prereq.Pass {
		t.Fatalf("vault check %+v", r)
	}
	if !strings.HasPrefix(res.Registration.ConfigServerID, "cs-") || res.Registration.VaultName != "lab" {
		t.Fatalf("registration %+v", res.Registration)
	}
	// Reused key.
	_, err = Install(ctx, func() InstallOptions {
		o := realOpts(t, key, filepath.Join(t.TempDir(), "cs2"), cclock)
		o.Name = "cs2"
		return o
	}())
	if err == nil || err.Error() != "register with the vault: vault: registration key has already been used (HTTP 409)" {
		t.Fatalf("reused key: %v", err)
	}

	// Serve: heartbeats over mTLS to the vault, an agent's machine in the inventory, replication
	// enabled in the vault reaches the agent.
	api, _ := net.Listen("tcp", "127.0.0.1:0")
	admin, _ := net.Listen("unix", filepath.Join(t.TempDir(), "a.sock"))
	var mu sync.Mutex // the server's own heartbeat loop may call the hook too
	var desired []string
	var hasWeb01, hasOther bool
	servicesRan := make(chan struct{})
	srv, err := New(Config{DataDir: dir, Clock: cclock, API: api, Admin: admin, VaultInterval: time.Hour,
		Mounts:   map[string]http.Handler{"GET /probe": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "mounted") })},
		Services: []func(context.Context){func(ctx context.Context) { close(servicesRan); <-ctx.Done() }},
		OnDesired: func(_ context.Context, machines []string, has func(string) bool) {
			mu.Lock()
			defer mu.Unlock()
			desired, hasWeb01, hasOther = machines, has("web01"), has("db99")
		}})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(sctx) }()
	defer func() { cancel(); <-done }()
	r := &rig{srv: srv, addr: api.Addr().String()}
	agent, _, err := holder(t, r, res.Passphrase, enroll.RoleAgent, "web01", AgentInfo{Hostname: "web01.example.net", OS: "linux",
		Addresses: []string{"10.0.0.21"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.VaultOnce(ctx); err != nil {
		t.Fatalf("vault heartbeat: %v", err)
	}
	css, err := svc.ListConfigServers(ctx, "lab")
	if err != nil || len(css) != 1 || css[0].Name != "cs1" {
		t.Fatalf("vault's configuration servers: %+v %v", css, err)
	}
	machines, err := svc.ListMachines(ctx, "lab")
	if err != nil || len(machines) != 1 || machines[0].Name != "web01" {
		t.Fatalf("vault's machines: %+v %v", machines, err)
	}
	v.Replicate(t, "cs1", "web01", "")
	if err := srv.VaultOnce(ctx); err != nil {
		t.Fatal(err)
	}
	ac, err := agent.AgentConfig(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !ac.Replicate || ac.Policy == nil || ac.Policy.Name != "gold" || ac.Policy.RPOThresholdSeconds != 900 || ac.ProcessServerName != "cs1" {
		t.Fatalf("agent config %+v", ac)
	}
	// The desired state reached the hook (the automatic push), which can tell enrolled agents.
	mu.Lock()
	defer mu.Unlock()
	if len(desired) != 1 || desired[0] != "web01" || !hasWeb01 || hasOther {
		t.Fatalf("OnDesired got %v, has(web01) %v, has(db99) %v", desired, hasWeb01, hasOther)
	}
	// Extra handlers are served on the API port without a client certificate, and services run.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // a probe of the mux only
	resp, err := hc.Get("https://" + api.Addr().String() + "/probe")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "mounted" {
		t.Fatalf("mounted handler: %d %q", resp.StatusCode, body)
	}
	select {
	case <-servicesRan:
	case <-time.After(5 * time.Second):
		t.Fatal("the configured service did not run")
	}
	// The default process server got the store settings from the desired state.
	pc, err := processserver.LoadConfig(filepath.Join(dir, ProcessServerDir, PSConfigFile))
	if err != nil || !strings.HasPrefix(pc.Store.Repo, "file://") || pc.Store.PasswordFile != filepath.Join(dir, ProcessServerDir, StorePasswordFile) {
		t.Fatalf("default process server config %+v: %v", pc, err)
	}
	if st, err := os.Stat(pc.Store.PasswordFile); err != nil || st.Mode().Perm() != 0o600 || st.Size() == 0 {
		t.Fatalf("store password file: %v %v", st, err)
	}
	inf := srv.Infrastructure().ConfigurationServers[0]
	if inf.Status != Connected {
		t.Fatalf("configuration server status %s (%s)", inf.Status, inf.Reason)
	}
}
