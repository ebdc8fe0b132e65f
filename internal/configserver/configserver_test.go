package configserver_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	. "github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/csclient"
	"github.com/opensiterecovery/osr/internal/configserver/enroll"
	"github.com/opensiterecovery/osr/internal/configserver/prereq"
	"github.com/opensiterecovery/osr/internal/configserver/vaulttest"
	"github.com/opensiterecovery/osr/internal/passphrase"
	"github.com/opensiterecovery/osr/internal/pki"
)

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func testEnv(c clock.Clock) *prereq.Env {
	env := prereq.Default(nil)
	env.FreeBytes = func(string) (uint64, error) { return 700 << 30, nil }
	env.Clock = c
	return &env
}

func installOpts(t *testing.T, v *vaulttest.Vault, dir string, c clock.Clock) InstallOptions {
	return InstallOptions{
		KeyText: v.Key(t), DataDir: dir, CacheDir: t.TempDir(),
		Port: freePort(t), APIPort: freePort(t), ListenAddress: "127.0.0.1", Name: "cs1", Hostname: "cs1.example.net",
		Env: testEnv(c), Clock: c,
	}
}

func TestInstallWritesNothingOnFailure(t *testing.T) {
	v := vaulttest.StartVault(t)
	c := clock.NewFake(time.Now())
	dir := filepath.Join(t.TempDir(), "cs")
	o := installOpts(t, v, dir, c)
	o.Port = 443
	res, err := Install(context.Background(), o)
	if !errors.Is(err, ErrPrerequisites) {
		t.Fatalf("install with port 443: %v", err)
	}
	if r, _ := res.Report.Get("process server port"); r.Status != prereq.Fail {
		t.Fatalf("port check: %+v", r)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("data directory exists after a failed check: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dir)); len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
	// One port for both.
	o = installOpts(t, v, dir, c)
	o.APIPort = o.Port
	res, err = Install(context.Background(), o)
	if r, _ := res.Report.Get("ports"); !errors.Is(err, ErrPrerequisites) || r.Message != fmt.Sprintf("the process server and the configuration server cannot share port %d", o.Port) {
		t.Fatalf("shared port: %v %+v", err, r)
	}
	// An expired key fails locally; the vault is not asked.
	v.Clock.Set(time.Now().Add(-6 * 24 * time.Hour))
	o = installOpts(t, v, dir, c)
	v.Clock.Set(time.Now())
	res, err = Install(context.Background(), o)
	r, _ := res.Report.Get("registration key")
	if !errors.Is(err, ErrPrerequisites) || r.Status != prereq.Fail || !strings.HasPrefix(r.Message, "registration key has expired (expired ") {
		t.Fatalf("expired key: %v %+v", err, r)
	}
	// Skewed clock.
	o = installOpts(t, v, dir, clock.NewFake(time.Now().Add(-10*time.Minute)))
	res, err = Install(context.Background(), o)
	r, _ = res.Report.Get("clock")
	if !errors.Is(err, ErrPrerequisites) || r.Status != prereq.Fail || !strings.Contains(r.Message, "behind the vault's") {
		t.Fatalf("skewed clock: %v %+v", err, r)
	}
}

type rig struct {
	vault  *vaulttest.Vault
	clock  *clock.Fake
	dir    string
	res    *InstallResult
	srv    *Server
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func startRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{vault: vaulttest.StartVault(t), clock: clock.NewFake(time.Now()), dir: filepath.Join(t.TempDir(), "cs")}
	o := installOpts(t, r.vault, r.dir, r.clock)
	var err error
	r.res, err = Install(context.Background(), o)
	if err != nil {
		var b strings.Builder
		if r.res != nil {
			r.res.Report.WriteTable(&b)
		}
		t.Fatalf("install: %v\n%s", err, b.String())
	}
	api, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := net.Listen("unix", filepath.Join(t.TempDir(), "admin.sock"))
	if err != nil {
		t.Fatal(err)
	}
	r.addr = api.Addr().String()
	r.srv, err = New(Config{DataDir: r.dir, Clock: r.clock, API: api, Admin: admin, VaultInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return r
}

func TestInstall(t *testing.T) {
	r := startRig(t)
	reg := r.res.Registration
	if !strings.HasPrefix(reg.ConfigServerID, "cs-") || reg.VaultName != "lab" || reg.ProcessServer.Name != "cs1" {
		t.Fatalf("registration %+v", reg)
	}
	st, err := os.Stat(filepath.Join(r.dir, PassphraseFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("passphrase file: %v %v", st, err)
	}
	if d, _ := os.Stat(r.dir); d.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %04o", d.Mode().Perm())
	}
	p, err := ReadPassphrase(r.dir)
	if err != nil || p != r.res.Passphrase {
		t.Fatalf("stored passphrase %v %v", p, err)
	}
	// Installing again is refused by the check; reusing the key elsewhere by the vault.
	o := installOpts(t, r.vault, r.dir, r.clock)
	res, err := Install(context.Background(), o)
	if c, _ := res.Report.Get("registration"); !errors.Is(err, ErrPrerequisites) || c.Message != "already registered with vault lab as configuration server cs1 ("+reg.ConfigServerID+")" {
		t.Fatalf("second install: %v %+v", err, c)
	}
	key := r.vault.Key(t)
	o = installOpts(t, r.vault, filepath.Join(t.TempDir(), "a"), r.clock)
	o.KeyText, o.Name = key, "cs2"
	if _, err := Install(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "b")
	o = installOpts(t, r.vault, other, r.clock)
	o.KeyText, o.Name = key, "cs3"
	_, err = Install(context.Background(), o)
	if err == nil || err.Error() != "register with the vault: vault: registration key has already been used (HTTP 409)" {
		t.Fatalf("reused key: %v", err)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Fatal("a refused registration left a data directory")
	}
}

// holder enrolls role/name with p and returns its API client.
func holder(t *testing.T, r *rig, p passphrase.Passphrase, role enroll.Role, name string, info any) (*csclient.Client, *enroll.Result, error) {
	t.Helper()
	key := NewKey()
	res, err := enroll.Enroll(context.Background(), enroll.ClientRequest{Address: r.addr, Passphrase: p, Role: role, Name: name, Key: key, Info: info})
	if err != nil {
		return nil, nil, err
	}
	dir := t.TempDir()
	if err := WriteIdentity(dir, HolderIdentity{Role: role, Name: name, Cert: res.Cert, CA: res.CA, Root: res.Root, Key: key, ConfigServerAddr: r.addr}); err != nil {
		t.Fatal(err)
	}
	c, err := csclient.Load(filepath.Join(dir, LinkFile))
	if err != nil {
		t.Fatal(err)
	}
	return c, res, nil
}

func infra(r *rig) map[string]string {
	out := map[string]string{}
	v := r.srv.Infrastructure().ConfigurationServers[0]
	out["cs/"+v.Name] = string(v.Status)
	for _, p := range v.ProcessServers {
		out["ps/"+p.Name] = string(p.Status) + " " + p.Reason
	}
	for _, a := range v.Agents {
		out["agent/"+a.Machine] = string(a.Status) + " " + a.Reason
	}
	return out
}

func TestEnrollHeartbeatsAndInfrastructure(t *testing.T) {
	r := startRig(t)
	ctx := context.Background()
	ps, psRes, err := holder(t, r, r.res.Passphrase, enroll.RoleProcessServer, "ps2", PSInfo{Address: "10.0.0.6:9443"})
	if err != nil {
		t.Fatal(err)
	}
	var psCfg PSConfig
	if err := json.Unmarshal(psRes.Config, &psCfg); err != nil || psCfg.Name != "ps2" {
		t.Fatalf("process server config %s: %v", psRes.Config, err)
	}
	// Both certificates chain to the vault root through this configuration server's CA.
	for _, res := range []*enroll.Result{psRes} {
		if err := enroll.VerifyLeaf(res.Cert, res.CA, res.Root, enroll.RoleProcessServer, "ps2"); err != nil {
			t.Fatal(err)
		}
		if pki.CertSHA256(res.Root) != r.vault.Svc.RootCAFingerprint() {
			t.Fatalf("root %s is not the vault's", res.Root.Subject)
		}
	}
	agent, agentRes, err := holder(t, r, r.res.Passphrase, enroll.RoleAgent, "web01", AgentInfo{Hostname: "web01.example.net", OS: "linux"})
	if err != nil {
		t.Fatal(err)
	}
	var ac AgentConfig
	if err := json.Unmarshal(agentRes.Config, &ac); err != nil {
		t.Fatal(err)
	}
	// Two process servers with no machines: the first by name (cs1, the default one) gets web01.
	if ac.ProcessServerName != "cs1" || ac.Replicate || ac.HeartbeatSeconds != 30 {
		t.Fatalf("agent config %+v", ac)
	}

	// Wrong passphrase: refused, nothing recorded.
	if _, _, err := holder(t, r, passphrase.Generate(), enroll.RoleAgent, "db01", nil); !errors.Is(err, enroll.ErrServerProof) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	// Regenerated: the old passphrase is refused, the new one admits.
	newP, err := RegeneratePassphrase(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := holder(t, r, r.res.Passphrase, enroll.RoleAgent, "db01", nil); !errors.Is(err, enroll.ErrServerProof) {
		t.Fatalf("old passphrase after regenerate: %v", err)
	}
	if _, _, err := holder(t, r, newP, enroll.RoleAgent, "db01", nil); err != nil {
		t.Fatalf("new passphrase: %v", err)
	}

	if err := r.srv.VaultOnce(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"cs/cs1": "Connected", "ps/cs1": "Disconnected no heartbeat yet", "ps/ps2": "Disconnected no heartbeat yet",
		"agent/web01": "Disconnected no heartbeat yet", "agent/db01": "Disconnected no heartbeat yet"}
	if got := infra(r); !equalMaps(got, want) {
		t.Fatalf("before heartbeats: %v", got)
	}
	if _, err := ps.Heartbeat(ctx, PSHealth{CPUPercent: 12, MemoryPercent: 40, CacheFreePercent: 71}); err != nil {
		t.Fatal(err)
	}
	ans, err := agent.Heartbeat(ctx, AgentHeartbeat{Version: "0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if ans.RenewCert {
		t.Error("a fresh certificate is due for renewal")
	}
	if err := r.srv.VaultOnce(ctx); err != nil {
		t.Fatal(err)
	}
	want["cs/cs1"], want["ps/ps2"], want["agent/web01"] = "Connected", "Connected ", "Connected "
	if got := infra(r); !equalMaps(got, want) {
		t.Fatalf("after heartbeats: %v", got)
	}
	r.clock.Advance(2 * time.Minute)
	if _, err := ps.Heartbeat(ctx, PSHealth{CPUPercent: 97, MemoryPercent: 40, CacheFreePercent: 28}); err != nil {
		t.Fatal(err)
	}
	want["ps/ps2"], want["agent/web01"] = "Critical CPU 97%", "Warning last heartbeat 2m0s ago"
	if got := infra(r); !equalMaps(got, want) {
		t.Fatalf("after 2 minutes: %v", got)
	}
	r.clock.Advance(4 * time.Minute)
	want["cs/cs1"], want["ps/ps2"], want["agent/web01"] = "Disconnected", "Disconnected no heartbeat for 4m0s", "Disconnected no heartbeat for 6m0s"
	want["ps/ps2"] = "Critical CPU 97%" // late, but its last health is worse
	if got := infra(r); !equalMaps(got, want) {
		t.Fatalf("after 6 minutes: %v", got)
	}
	r.clock.Advance(2 * time.Minute)
	want["ps/ps2"], want["agent/web01"] = "Disconnected no heartbeat for 6m0s", "Disconnected no heartbeat for 8m0s"
	if got := infra(r); !equalMaps(got, want) {
		t.Fatalf("after 8 minutes: %v", got)
	}

	// The vault saw the configuration server and the machines of its agents.
	css, err := r.vault.Svc.ListConfigServers(ctx, "lab")
	if err != nil || len(css) != 1 || css[0].Name != "cs1" {
		t.Fatalf("vault's configuration servers: %+v %v", css, err)
	}
	machines, err := r.vault.Svc.ListMachines(ctx, "lab")
	if err != nil || len(machines) != 2 || machines[0].Name != "db01" || machines[1].Name != "web01" {
		t.Fatalf("vault's machines: %+v %v", machines, err)
	}

	// The vault wants web01 replicated on ps2: the agent's long poll wakes with its new config.
	cur, err := agent.AgentConfig(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	v0 := cur.Version
	got := make(chan *AgentConfig, 1)
	go func() {
		c, err := agent.AgentConfig(ctx, v0, 30*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	time.Sleep(50 * time.Millisecond)
	r.vault.Replicate(t, "cs1", "web01", "ps2")
	if err := r.srv.VaultOnce(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-got:
		if c.ProcessServer != "10.0.0.6:9443" || c.ProcessServerName != "ps2" || !c.Replicate || c.Policy == nil || c.Policy.Name != "gold" || c.Policy.CrashConsistentFrequencySeconds != 300 {
			t.Fatalf("agent config after desired state: %+v", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long poll did not wake")
	}
	pc, err := ps.PSConfig(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Storage == nil || !strings.HasPrefix(pc.Storage.URL, "file://") || len(pc.Storage.Password) == 0 || len(pc.Machines) != 2 ||
		pc.Machines[0].Machine != "db01" || pc.Machines[0].Policy != nil || pc.Machines[1].Machine != "web01" || pc.Machines[1].Policy.Name != "gold" {
		t.Fatalf("process server config %+v", pc)
	}
	// An agent may not read a process server's configuration.
	if _, err := agent.PSConfig(ctx, 0, 0); err == nil || err.Error() != "configuration server: role agent may not call /v1/process-server/config (HTTP 403)" {
		t.Fatalf("agent reading process server config: %v", err)
	}

	// Renewal: the new certificate works, the old one is refused.
	key := NewKey()
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	renewed, err := agent.Renew(ctx, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.Heartbeat(ctx, AgentHeartbeat{}); err == nil || err.Error() != "configuration server: the certificate of agent web01 is not its current one (enrolled again, or removed) (HTTP 403)" {
		t.Fatalf("old certificate after renewal: %v", err)
	}
	certs, _ := enroll.ParseCerts([]byte(renewed.CertificatePEM))
	dir := t.TempDir()
	if err := WriteIdentity(dir, HolderIdentity{Role: enroll.RoleAgent, Name: "web01", Cert: certs[0], CA: agentRes.CA, Root: agentRes.Root, Key: key, ConfigServerAddr: r.addr}); err != nil {
		t.Fatal(err)
	}
	agent2, err := csclient.Load(filepath.Join(dir, LinkFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent2.Heartbeat(ctx, AgentHeartbeat{}); err != nil {
		t.Fatalf("renewed certificate: %v", err)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
