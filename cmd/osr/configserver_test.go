package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/vaulttest"
	"github.com/opensiterecovery/osr/internal/mobility"
	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/processserver"
)

// inproc runs osr commands in this process, with one log and clock for all of them.
type inproc struct {
	t     *testing.T
	clock clock.Clock
	log   bytes.Buffer
	all   bytes.Buffer // every output of every command, to search for secrets
}

func (p *inproc) run(ctx context.Context, args ...string) (string, string, int) {
	p.t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, clock: p.clock,
		logger: slog.New(slog.NewTextHandler(&p.log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	root := a.rootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	code := 0
	if err != nil {
		code = exitCode(err)
		errb.WriteString("osr: " + err.Error() + "\n")
	}
	p.all.WriteString(out.String() + errb.String())
	return out.String(), errb.String(), code
}

func (p *inproc) ok(args ...string) string {
	p.t.Helper()
	out, errOut, code := p.run(context.Background(), args...)
	if code != 0 {
		p.t.Fatalf("osr %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func port(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func TestConfigServerCommands(t *testing.T) {
	v := vaulttest.StartVault(t)
	tmp := t.TempDir()
	keyFile := filepath.Join(tmp, "vault.key")
	if err := os.WriteFile(keyFile, []byte(v.Key(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fake := clock.NewFake(time.Now())
	p := &inproc{t: t, clock: fake}
	data := filepath.Join(tmp, "cs")
	cache := filepath.Join(tmp, "cache")
	api := port(t)

	// Port 443 is refused: exit 2, the table says why, nothing is written.
	out, _, code := p.run(context.Background(), "config-server", "install", "--registration-key", keyFile, "--cache-dir", cache,
		"--port", "443", "--api-port", api, "--data-dir", data, "--listen-address", "127.0.0.1", "--name", "cs1")
	if code != 2 || !hasRow(out, "process server port", "fail", "port 443 is prohibited for the process server: the configuration server uses it", "use --port 9443 (the default)") {
		t.Fatalf("install on 443: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Fatal("a failed install wrote the data directory")
	}

	out = p.ok("config-server", "install", "--registration-key", keyFile, "--cache-dir", cache, "--port", port(t),
		"--api-port", api, "--data-dir", data, "--listen-address", "127.0.0.1", "--name", "cs1")
	if !hasRow(out, "vault", "pass", "vault at "+v.URL+" reached directly", "-") || !hasRow(out, "registration", "pass", "not registered yet", "-") ||
		!strings.Contains(out, "Registered with vault lab (v-") || !strings.Contains(out, ") as configuration server cs1 (cs-") {
		t.Errorf("install output:\n%s", out)
	}
	pass := strings.TrimSpace(p.ok("config-server", "passphrase", "--data-dir", data))
	if strings.Count(out, pass) != 1 {
		t.Fatalf("the passphrase %q is shown %d times at install", pass, strings.Count(out, pass))
	}
	passFile := filepath.Join(tmp, "pass")
	if err := os.WriteFile(passFile, []byte(pass+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		if _, errOut, code := p.run(ctx, "config-server", "serve", "--data-dir", data, "--vault-interval", "50ms"); code != 0 {
			t.Errorf("serve: exit %d: %s", code, errOut)
		}
	}()
	defer func() { cancel(); <-served }()
	waitFor(t, filepath.Join(data, configserver.AdminSocket))

	// Accounts: the secret is stored encrypted and never shown.
	secret := "Tr0ub4dor&3-unique-secret"
	pwFile := filepath.Join(tmp, "pw")
	os.WriteFile(pwFile, []byte(secret+"\n"), 0o600)
	p.ok("account", "add", "--data-dir", data, "--name", "domain-admin", "--type", "windows", "--user", `CORP\osr`, "--password-file", pwFile)
	p.ok("account", "add", "--data-dir", data, "--name", "vc", "--type", "vcenter", "--user", "ro@vsphere.local", "--password-file", pwFile)
	out = p.ok("account", "list", "--data-dir", data)
	if !hasRow(out, "domain-admin", "windows", `CORP\osr`, "password", fake.Now().UTC().Format(time.RFC3339)) || !hasRow(out, "vc", "vcenter", "ro@vsphere.local", "password", fake.Now().UTC().Format(time.RFC3339)) {
		t.Fatalf("account list:\n%s", out)
	}
	var listed []map[string]any
	if err := json.Unmarshal([]byte(p.ok("account", "list", "--data-dir", data, "--json")), &listed); err != nil || len(listed) != 2 {
		t.Fatalf("account list --json: %v %v", listed, err)
	}
	p.ok("account", "remove", "--data-dir", data, "vc")
	if _, errOut, code := p.run(context.Background(), "account", "remove", "--data-dir", data, "vc"); code != 1 || errOut != "osr: account vc: no such account\n" {
		t.Fatalf("second remove: %d %q", code, errOut)
	}

	// A scale-out process server and an agent join with the passphrase.
	psDir := filepath.Join(tmp, "ps2")
	p.ok("process-server", "install", "--config-server", "127.0.0.1:"+api, "--passphrase-file", passFile, "--name", "ps2",
		"--cache-dir", cache, "--dir", psDir, "--port", port(t), "--listen-address", "127.0.0.1")
	for _, f := range []string{configserver.LinkFile, configserver.IdentityCert, configserver.IdentityKey, configserver.IdentityRoot, "process-server.yaml"} {
		if st, err := os.Stat(filepath.Join(psDir, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, st, err)
		}
	}
	// The process server loads its configuration and identity as internal/processserver and pki do.
	if pc, err := processserver.LoadConfig(filepath.Join(psDir, configserver.PSConfigFile)); err != nil || pc.Name != "ps2" || pc.Cache.Dir != cache || pc.TLS.CA != filepath.Join(psDir, "ca.pem") {
		t.Fatalf("process server config %+v: %v", pc, err)
	}
	if pc, err := processserver.LoadConfig(filepath.Join(data, configserver.ProcessServerDir, configserver.PSConfigFile)); err != nil || pc.Name != "cs1" || pc.HealthListen != "127.0.0.1:9444" {
		t.Fatalf("default process server config %+v: %v", pc, err)
	}
	var mc *mobility.Config
	psID, err := pki.LoadIdentity(filepath.Join(psDir, configserver.IdentityCert), filepath.Join(psDir, configserver.IdentityKey), filepath.Join(psDir, configserver.IdentityRoot))
	if err != nil || psID.Role != pki.RoleProcessServer || psID.Name != "ps2" {
		t.Fatalf("process server identity: %+v %v", psID, err)
	}
	disk := filepath.Join(tmp, "sda.img")
	os.WriteFile(disk, make([]byte, 1<<20), 0o600)
	agentDir := filepath.Join(tmp, "agent")
	out = p.ok("mobility", "install", "--config-server", "127.0.0.1:"+api, "--passphrase-file", passFile, "--name", "web01",
		"--disk", "sda="+disk, "--dir", agentDir, "--state-dir", filepath.Join(tmp, "state"))
	if !strings.Contains(out, "Machine web01 registered with the configuration server at 127.0.0.1:"+api+"; process server cs1 (127.0.0.1:") {
		t.Fatalf("mobility install:\n%s", out)
	}
	mc, err = mobility.LoadConfig(filepath.Join(agentDir, "mobility.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if mc.Machine != "web01" || len(mc.Disks) != 1 || mc.Disks[0].Path != disk || mc.TLS.CA != filepath.Join(agentDir, "ca.pem") {
		t.Fatalf("mobility config %+v", mc)
	}
	if id, err := pki.LoadIdentity(mc.TLS.Cert, mc.TLS.Key, mc.TLS.CA); err != nil || id.Role != pki.RoleAgent || id.Name != "web01" {
		t.Fatalf("agent identity: %+v %v", id, err)
	}

	// Infrastructure: nothing has sent a heartbeat.
	var inf configserver.Infrastructure
	if err := json.Unmarshal([]byte(p.ok("infrastructure", "--data-dir", data, "--json")), &inf); err != nil {
		t.Fatal(err)
	}
	cs := inf.ConfigurationServers[0]
	if cs.Name != "cs1" || len(cs.ProcessServers) != 2 || len(cs.Agents) != 1 || cs.Agents[0].Status != configserver.Disconnected {
		t.Fatalf("infrastructure %+v", inf)
	}
	out = p.ok("infrastructure", "--data-dir", data)
	if !hasRow(out, "web01", "mobility agent", "via cs1", "Disconnected", "never", "no heartbeat yet") {
		t.Fatalf("infrastructure table:\n%s", out)
	}

	// Regenerate: the old passphrase no longer admits.
	newPass := strings.TrimSpace(p.ok("config-server", "passphrase", "--data-dir", data, "--regenerate"))
	if newPass == pass || len(newPass) != 27 {
		t.Fatalf("regenerated %q", newPass)
	}
	_, errOut, code := p.run(context.Background(), "mobility", "install", "--config-server", "127.0.0.1:"+api, "--passphrase-file", passFile,
		"--name", "db01", "--disk", "sda="+disk, "--dir", filepath.Join(tmp, "agent2"), "--state-dir", filepath.Join(tmp, "state2"))
	want := "osr: register with the configuration server at 127.0.0.1:" + api + ": the configuration server did not prove it knows this passphrase: the passphrase is wrong, or the address is not that configuration server\n"
	if code != 1 || errOut != want {
		t.Fatalf("old passphrase: %d %q", code, errOut)
	}

	time.Sleep(200 * time.Millisecond) // a few heartbeats to the vault since the accounts were added

	// The vault's view of its configuration servers, from their heartbeats.
	token, err := v.Svc.Bootstrap(context.Background())
	if err != nil || token == "" {
		t.Fatalf("bootstrap: %q %v", token, err)
	}
	tokenFile, caFile := filepath.Join(tmp, "token"), filepath.Join(tmp, "vault-ca.pem")
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	os.WriteFile(caFile, v.Svc.RootCAPEM(), 0o600)
	var vinf configserver.Infrastructure
	out = p.ok("infrastructure", "--from-vault", "--server", v.URL, "--token-file", tokenFile, "--ca-file", caFile, "--vault", "lab", "--json")
	if err := json.Unmarshal([]byte(out), &vinf); err != nil {
		t.Fatal(err)
	}
	if len(vinf.ConfigurationServers) != 1 {
		t.Fatalf("vault view: %s", out)
	}
	vcs := vinf.ConfigurationServers[0]
	if vcs.Name != "cs1" || vcs.Status != configserver.Connected || len(vcs.ProcessServers) != 2 || len(vcs.Agents) != 1 ||
		vcs.Agents[0].Machine != "web01" || vcs.Agents[0].Status != configserver.Disconnected || vcs.ProcessServers[0].Agents != 1 {
		t.Fatalf("vault view: %s", out)
	}
	out = p.ok("infrastructure", "--from-vault", "--server", v.URL, "--token-file", tokenFile, "--ca-file", caFile, "--vault", "lab")
	if !hasRow(out, "web01", "mobility agent", "via cs1", "Disconnected", "never", "no heartbeat yet") {
		t.Fatalf("vault view table:\n%s", out)
	}
	cancel()
	<-served
	if !strings.Contains(p.log.String(), "configuration server running") {
		t.Fatalf("serve did not log its start:\n%s", p.log.String())
	}
	// The secret is in no output, no log line, no file of the data directory, nothing the vault keeps.
	if strings.Contains(p.all.String(), secret) || strings.Contains(p.log.String(), secret) {
		t.Fatal("the account secret was printed or logged")
	}
	for _, root := range []string{data, v.Dir} {
		filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
			if err == nil && info.Mode().IsRegular() {
				if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(secret)) {
					t.Errorf("%s holds the account secret in clear", path)
				}
			}
			return nil
		})
	}
	if strings.Contains(p.log.String(), pass) || strings.Contains(p.log.String(), newPass) {
		t.Fatal("a passphrase was logged")
	}
}

func waitFor(t *testing.T, path string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
}

// hasRow reports whether a table printed by osr has a row of these cells (columns are separated by
// two or more spaces).
func hasRow(out string, cells ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		var got []string
		for _, c := range strings.Split(line, "  ") {
			if c = strings.TrimSpace(c); c != "" {
				got = append(got, c)
			}
		}
		if strings.Join(got, "|") == strings.Join(cells, "|") {
			return true
		}
	}
	return false
}
