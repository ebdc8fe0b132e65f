//go:build linux

package flow

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWholeFlow runs the product as a user does, on the built binary: osr up, a registration key,
// a second configuration server with its own process server, an agent for an ext4 loop device
// registered with the passphrase, a policy, replication enabled, initial replication, a recovery
// point listed, and the RPO alert raised while the agent is stopped and cleared once it is back.
func TestWholeFlow(t *testing.T) {
	begin := time.Now()
	for _, c := range [][]string{{"mobility", "install"}, {"process-server", "install"}} {
		if out, _ := osr(t, nil, append(c, "--help")...); !strings.Contains(out, "--passphrase-file") {
			t.Fatalf("osr %s is not registered (cmd/osr: a.mobilityInstallCommand() under mobility, a.processServerInstallCommand() under process-server):\n%s", strings.Join(c, " "), out)
		}
	}
	// The file systems come before the processes: their cleanups run after the processes stop.
	dev := sourceDisk(t)
	// Every data directory and cache on a file system of its own (sparse, 8 GiB: the caches need
	// 5 GiB free, and a process server stops reading below 25 % free), so that the fill level of
	// the machine's disk does not matter.
	_, root := ext4Loop(t, 8<<10)
	ps := newProcs(t)
	upDir := filepath.Join(root, "up")
	port := freePorts(t, 7)
	env := []string{"OSR_DATA_DIR=" + upDir, "OSR_VAULT=", "OSR_SERVER=", "OSR_TOKEN_FILE=", "OSR_CA_FILE="}

	// 1. The all-in-one.
	up := ps.start("up", env, "up", "--data-dir", upDir, "--listen", "127.0.0.1:"+strconv.Itoa(port[0]),
		"--api-port", strconv.Itoa(port[1]), "--ps-port", strconv.Itoa(port[2]), "--health-listen", "127.0.0.1:"+strconv.Itoa(port[3]))
	waitFor(t, 60*time.Second, "osr up to be up", func() (bool, string) {
		if up.Exited() {
			t.Fatal("osr up exited")
		}
		return up.LogHas("osr is up."), "no summary yet"
	})
	for _, want := range []string{"Portal:                https://127.0.0.1:" + strconv.Itoa(port[0]) + "/",
		"password in " + filepath.Join(upDir, "admin.password"), "Passphrase:            " + filepath.Join(upDir, "config-server", "passphrase"),
		"osr mobility install --config-server "} {
		if !up.LogHas(want) {
			t.Fatalf("osr up's summary lacks %q", want)
		}
	}
	if fi, err := os.Stat(filepath.Join(upDir, "admin.password")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin password file: %v %v", fi, err)
	}
	signIn(t, "https://127.0.0.1:"+strconv.Itoa(port[0]), upDir)
	var vaults []struct {
		Name       string `json:"name"`
		StorageURL string `json:"storage_url"`
	}
	decode(t, mustOSR(t, env, "vault", "list", "--json"), &vaults)
	if len(vaults) != 1 || vaults[0].Name != "default" || vaults[0].StorageURL != "file://"+filepath.Join(upDir, "store") {
		t.Fatalf("vaults after osr up: %+v", vaults)
	}

	// 2. A second configuration server, registered with a key, and its process server.
	key := filepath.Join(root, "cs2.key")
	mustOSR(t, env, "vault", "registration-key", "--vault", "default", "--out", key)
	cs2 := filepath.Join(root, "cs2")
	out := mustOSR(t, env, "config-server", "install", "--registration-key", key, "--cache-dir", filepath.Join(root, "cs2-cache"),
		"--data-dir", cs2, "--name", "cs2", "--api-port", strconv.Itoa(port[4]), "--port", strconv.Itoa(port[5]),
		"--health-listen", "127.0.0.1:"+strconv.Itoa(port[6]))
	if !strings.Contains(out, "Registered with vault default") {
		t.Fatalf("config-server install:\n%s", out)
	}
	ps.start("cs2", nil, "config-server", "serve", "--data-dir", cs2, "--vault-interval", "3s")
	ps2 := ps.start("ps2", nil, "process-server", "serve", "--config", filepath.Join(cs2, "process-server", "process-server.yaml"))
	// Installed without a store, it serves once the configuration server passed on the vault's.
	waitFor(t, 30*time.Second, "the second process server to take the vault's store and serve", func() (bool, string) {
		if ps2.Exited() {
			t.Fatal("osr process-server serve exited: it does not run under its configuration server " +
				"(cmd/osr/pipeline_ps.go, serve: if managed, err := a.serveProcessServerManaged(cmd.Context(), configFile, logLevel); managed { return err })")
		}
		return ps2.LogHas("process server listening"), "not listening yet"
	})
	pass := filepath.Join(root, "passphrase.txt")
	if err := os.WriteFile(pass, []byte(mustOSR(t, nil, "config-server", "passphrase", "--data-dir", cs2)), 0o600); err != nil {
		t.Fatal(err)
	}

	// 3. The agent, registered with the passphrase.
	agentDir := filepath.Join(root, "agent")
	out = mustOSR(t, nil, "mobility", "install", "--config-server", "localhost:"+strconv.Itoa(port[4]), "--passphrase-file", pass,
		"--disk", "sda="+dev, "--name", "web01", "--dir", agentDir, "--state-dir", filepath.Join(root, "agent-state"))
	if !strings.Contains(out, "Machine web01 registered") {
		t.Fatalf("mobility install:\n%s", out)
	}
	agentCfg := filepath.Join(agentDir, "mobility.yaml")
	agent := ps.start("agent", nil, "mobility", "serve", "--config", agentCfg)

	// 4. A policy with the smallest values the bounds allow, and replication.
	mustOSR(t, env, "policy", "create", "gold", "--vault", "default", "--rpo-threshold", "1m", "--retention", "1h",
		"--app-consistent-frequency", "5m", "--crash-consistent-frequency", "30s")
	mustOSR(t, env, "policy", "associate", "gold", "--vault", "default", "--config-server", "cs2")
	waitFor(t, 30*time.Second, "web01 in the vault's inventory and replication enabled", func() (bool, string) {
		out, code := osr(t, env, "replication", "enable", "web01", "--policy", "gold", "--vault", "default")
		return code == 0, out
	})
	t.Logf("replication enabled after %v", time.Since(begin).Round(time.Second))

	// 5. Initial replication completes: the item is protected with a point.
	d := waitFor(t, 60*time.Second, "web01 protected", func() (bool, string) {
		it := item(t, env)
		return it.State == "protected" && it.LastPointID != "", fmt.Sprintf("%+v", it)
	})
	t.Logf("protected %v after enable", d.Round(time.Second))
	var points []point
	decode(t, mustOSR(t, env, "recovery-points", "list", "web01", "--vault", "default", "--json"), &points)
	if len(points) == 0 || len(points[0].Disks) != 1 || points[0].Disks[0] != "sda" {
		t.Fatalf("recovery points of web01: %+v", points)
	}
	if it := item(t, env); it.LastPointID != points[0].ID && !hasPoint(points, it.LastPointID) {
		t.Fatalf("the item's newest point %s is not among the listed points %+v", it.LastPointID, points)
	}

	// 6. The agent stops: the RPO alert fires; it comes back: the alert clears.
	if !agent.Stop(30 * time.Second) {
		t.Fatal("the agent did not stop within 30 s of SIGTERM")
	}
	stopped := time.Now()
	waitFor(t, 110*time.Second, "the RPO alert of web01", func() (bool, string) {
		a := rpoAlert(t, env)
		return a != "", "no rpo-exceeded alert for item/web01"
	})
	t.Logf("RPO alert %v after the agent stopped: %s", time.Since(stopped).Round(time.Second), rpoAlert(t, env))
	agent2 := ps.start("agent", nil, "mobility", "serve", "--config", agentCfg)
	back := time.Now()
	waitFor(t, 60*time.Second, "the RPO alert of web01 to clear", func() (bool, string) {
		a := rpoAlert(t, env)
		return a == "", a
	})
	t.Logf("RPO alert cleared %v after the agent restarted", time.Since(back).Round(time.Second))

	// Both sites as the vault sees them: each configuration server with its managed process server
	// reporting health, and the agent.
	// A process server may be rated Warning for the free space of the test machine's disk; what
	// counts is that its health arrived.
	waitFor(t, 40*time.Second, "every server reporting in the vault's view", func() (bool, string) {
		out := mustOSR(t, env, "infrastructure", "--from-vault", "--vault", "default", "--json")
		var inf struct {
			ConfigurationServers []struct {
				Name           string `json:"name"`
				Status         string `json:"status"`
				ProcessServers []struct {
					Name   string `json:"name"`
					Status string `json:"status"`
					Health *struct {
						CacheFree float64 `json:"cache_free_percent"`
					} `json:"health"`
				} `json:"process_servers"`
				Agents []struct {
					Machine string `json:"machine"`
					Status  string `json:"status"`
				} `json:"agents"`
			} `json:"configuration_servers"`
		}
		decode(t, out, &inf)
		n := 0
		for _, cs := range inf.ConfigurationServers {
			for _, p := range cs.ProcessServers {
				if cs.Status != "Connected" || p.Status == "Disconnected" || p.Health == nil || p.Health.CacheFree <= 0 {
					return false, out
				}
				n++
			}
			for _, a := range cs.Agents {
				if a.Status != "Connected" {
					return false, out
				}
			}
		}
		return len(inf.ConfigurationServers) == 2 && n == 2, out
	})

	// 7. Disabling replication stops the agent's data path (the service keeps running, idle).
	mustOSR(t, env, "replication", "disable", "web01", "--vault", "default")
	waitFor(t, 30*time.Second, "the agent to stop replicating", func() (bool, string) {
		out, code := osr(t, nil, "mobility", "status", "--config", agentCfg)
		return code == 3 && agent2.LogHas("replication is not enabled for this machine"), fmt.Sprintf("exit %d: %s", code, out)
	})

	// 8. osr up stops on SIGTERM and a second start reuses everything.
	if !up.Stop(20 * time.Second) {
		t.Fatal("osr up did not stop within 20 s of SIGTERM")
	}
	if !up.LogHas("osr up: stopped") {
		t.Fatal("osr up did not say it stopped")
	}
	up = ps.start("up", env, "up", "--data-dir", upDir, "--listen", "127.0.0.1:"+strconv.Itoa(port[0]))
	waitFor(t, 30*time.Second, "osr up to be up again", func() (bool, string) {
		b, _ := os.ReadFile(up.Log)
		return strings.Count(string(b), "osr is up.") == 2, "one summary so far"
	})
	b, _ := os.ReadFile(up.Log)
	for s, n := range map[string]int{"osr up: created user admin (owner)": 1, "osr up: created vault default": 1, "Configuration server prerequisites:": 1} {
		if got := strings.Count(string(b), s); got != n {
			t.Errorf("%q appears %d times in the log of two starts, want %d", s, got, n)
		}
	}
	decode(t, mustOSR(t, env, "vault", "list", "--json"), &vaults)
	if len(vaults) != 1 {
		t.Fatalf("vaults after a second start: %+v", vaults)
	}
	t.Logf("whole flow %v", time.Since(begin).Round(time.Second))
}

type itemView struct {
	State          string  `json:"state"`
	InitialPercent float64 `json:"initial_percent"`
	LastPointID    string  `json:"last_point_id"`
	Error          string  `json:"error"`
}

func item(t *testing.T, env []string) itemView {
	t.Helper()
	out, code := osr(t, env, "replication", "status", "web01", "--vault", "default", "--json")
	var it itemView
	if code != 0 {
		return itemView{State: "status failed: " + out}
	}
	if strings.HasPrefix(strings.TrimSpace(out), "[") {
		var list []itemView
		decode(t, out, &list)
		if len(list) > 0 {
			it = list[0]
		}
		return it
	}
	decode(t, out, &it)
	return it
}

// rpoAlert returns the message of the open RPO alert of web01, "" when there is none.
func rpoAlert(t *testing.T, env []string) string {
	t.Helper()
	var alerts []struct {
		Kind    string `json:"kind"`
		Subject string `json:"subject"`
		Message string `json:"message"`
	}
	decode(t, mustOSR(t, env, "alerts", "list", "--vault", "default", "--json"), &alerts)
	for _, a := range alerts {
		if a.Kind == "rpo-exceeded" && a.Subject == "item/web01" {
			return a.Message
		}
	}
	return ""
}

type point struct {
	ID          string   `json:"id"`
	Consistency string   `json:"consistency"`
	Disks       []string `json:"disks"`
}

func hasPoint(points []point, id string) bool {
	for _, p := range points {
		if p.ID == id {
			return true
		}
	}
	return false
}

func decode(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, out)
	}
}

// signIn signs admin in with the password osr up wrote (as the portal does, through the API's
// sign-in) and lists the vaults with the token it gets.
func signIn(t *testing.T, url, dir string) {
	t.Helper()
	pw, err := os.ReadFile(filepath.Join(dir, "admin.password"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "vault-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("vault-ca.crt holds no certificate")
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	body, _ := json.Marshal(map[string]string{"user": "admin", "password": strings.TrimSpace(string(pw))})
	resp, err := hc.Post(url+"/api/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var ans struct {
		Token string `json:"token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || err != nil || ans.Token == "" {
		t.Fatalf("sign-in as admin with the password of admin.password: %s %v", resp.Status, err)
	}
	req, _ := http.NewRequest(http.MethodGet, url+"/api/v1/vaults", nil)
	req.Header.Set("Authorization", "Bearer "+ans.Token)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("vaults with the sign-in token: %s", resp.Status)
	}
	resp, err = hc.Get(url + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the portal's sign-in page: %s", resp.Status)
	}
}
