//go:build linux

package multihost

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/e2e/faultproxy"
	"github.com/opensiterecovery/osr/internal/e2e/netlab"
	"github.com/opensiterecovery/osr/internal/e2e/proctest"
)

var osrBin string

func TestMain(m *testing.M) {
	bin, cleanup, err := proctest.Build("../../../cmd/osr")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	osrBin = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// site is the whole deployment of the suite.
type site struct {
	t     *testing.T
	lab   *netlab.Lab
	procs *proctest.Procs
	root  string // a directory for every data directory and disk

	vaultHost, csHost *netlab.Host
	psHosts           []*netlab.Host
	srcHosts          []*netlab.Host

	s3      *s3server
	vaultPx *faultproxy.Proxy // the configuration server's way to the vault
	cliEnv  []string          // CLI environment: the vault's data directory

	vault, cs *proctest.Proc
	ps        []*proctest.Proc
	agents    []*proctest.Proc
	agentCfg  []string
	psCfg     []string
	disks     []*disk
	s3Env     []string
	pass      string
}

const (
	vaultPort = 8443
	csPort    = 8444
	psPort    = 9443
	healthPt  = 9445
	policyRPO = time.Minute // the smallest RPO threshold the policy bounds allow
)

func machineName(i int) string { return fmt.Sprintf("src%d", i+1) }

// newSite builds the network, starts every component and enables replication of the three
// sources; it returns once each is protected.
func newSite(t *testing.T) *site {
	t.Helper()
	s := &site{t: t, root: t.TempDir()}
	// Disks and file systems first: their cleanups run after the processes stop.
	for i := range 3 {
		s.disks = append(s.disks, newDisk(t, filepath.Join(s.root, machineName(i)+".img"), uint64(i+1)))
	}
	cache2 := ext4Loop(t, filepath.Join(s.root, "ps2-cache.img"), 6<<10) // the install needs 5 GiB free
	s.lab = netlab.New(t)
	s.procs = proctest.New(t)
	s.vaultHost, s.csHost = s.lab.Host("vault"), s.lab.Host("cs")
	s.psHosts = []*netlab.Host{s.lab.Host("ps1"), s.lab.Host("ps2")}
	for i := range 3 {
		s.srcHosts = append(s.srcHosts, s.lab.Host(machineName(i)))
	}

	// Vault storage: an S3 server on the gateway, reached by the vault and the process servers.
	s.s3 = startS3(t, s.procs, s.lab.Gateway, filepath.Join(s.root, "s3"))
	s.s3Env = s.s3.env()

	// The vault, and a proxy on the gateway in front of it for the configuration server.
	vaultDir := filepath.Join(s.root, "vault")
	var err error
	s.vaultPx, err = faultproxy.New(net.JoinHostPort(s.lab.Gateway, "0"), net.JoinHostPort(s.vaultHost.Addr, strconv.Itoa(vaultPort)), faultproxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.vaultPx.Close() })
	s.startVault(vaultDir)
	s.cliEnv = []string{"OSR_DATA_DIR=" + vaultDir, "OSR_VAULT=", "OSR_SERVER=", "OSR_TOKEN_FILE=", "OSR_CA_FILE="}
	s.osr("vault", "create", "lab", "--storage", s.s3.url("lab"))
	s.osr("policy", "create", "gold", "--vault", "lab", "--rpo-threshold", "1m", "--retention", "2h",
		"--app-consistent-frequency", "5m", "--crash-consistent-frequency", "30s")

	// The configuration server, registered with a key.
	key := filepath.Join(s.root, "cs.key")
	s.osr("vault", "registration-key", "--vault", "lab", "--out", key)
	csDir := filepath.Join(s.root, "cs")
	out, code := s.run(s.csHost, nil, "config-server", "install", "--registration-key", key, "--data-dir", csDir, "--name", "cs1",
		"--cache-dir", filepath.Join(s.root, "cs-cache"), "--cache-size", "1GiB", "--api-port", strconv.Itoa(csPort), "--port", strconv.Itoa(psPort),
		"--health-listen", net.JoinHostPort(s.csHost.Addr, strconv.Itoa(healthPt)))
	if code != 0 || !strings.Contains(out, "Registered with vault lab") {
		t.Fatalf("config-server install: exit %d\n%s", code, out)
	}
	s.cs = s.startIn(s.csHost, "cs", nil, "config-server", "serve", "--data-dir", csDir, "--vault-interval", "3s")
	s.pass = filepath.Join(s.root, "passphrase")
	out, code = s.run(s.csHost, nil, "config-server", "passphrase", "--data-dir", csDir)
	if code != 0 {
		t.Fatalf("config-server passphrase: %s", out)
	}
	if err := os.WriteFile(s.pass, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	s.osr("policy", "associate", "gold", "--vault", "lab", "--config-server", "cs1")
	csAddr := net.JoinHostPort(s.csHost.Addr, strconv.Itoa(csPort))
	proctest.WaitFor(t, 30*time.Second, "the configuration server", func() (bool, string) {
		if s.cs.Exited() {
			t.Fatal("osr config-server serve exited")
		}
		c, err := net.DialTimeout("tcp", csAddr, time.Second)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})

	// Two scale-out process servers; the second one's cache is on a small file system of its own.
	caches := []string{filepath.Join(s.root, "ps1-cache"), cache2}
	for i, h := range s.psHosts {
		name := fmt.Sprintf("ps%d", i+1)
		dir := filepath.Join(s.root, name)
		out, code := s.run(h, nil, "process-server", "install", "--config-server", csAddr, "--passphrase-file", s.pass,
			"--name", name, "--dir", dir, "--cache-dir", caches[i], "--cache-size", "256MiB", "--listen-address", h.Addr,
			"--port", strconv.Itoa(psPort), "--health-listen", net.JoinHostPort(h.Addr, strconv.Itoa(healthPt)))
		if code != 0 {
			t.Fatalf("process-server install %s: exit %d\n%s", name, code, out)
		}
		s.psCfg = append(s.psCfg, filepath.Join(dir, "process-server.yaml"))
		s.ps = append(s.ps, s.startIn(h, name, s.s3Env, "process-server", "serve", "--config", s.psCfg[i]))
	}

	// The agents, registered with the passphrase.
	for i, h := range s.srcHosts {
		name := machineName(i)
		dir := filepath.Join(s.root, name)
		out, code := s.run(h, nil, "mobility", "install", "--config-server", csAddr, "--passphrase-file", s.pass,
			"--disk", "sda="+s.disks[i].path, "--name", name, "--dir", dir, "--state-dir", filepath.Join(dir, "state"))
		if code != 0 || !strings.Contains(out, "Machine "+name+" registered") {
			t.Fatalf("mobility install %s: exit %d\n%s", name, code, out)
		}
		s.agentCfg = append(s.agentCfg, filepath.Join(dir, "mobility.yaml"))
		s.agents = append(s.agents, s.startIn(h, name, nil, "mobility", "serve", "--config", s.agentCfg[i]))
	}
	// src1 and src3 on ps1, src2 on ps2.
	for i := range 3 {
		ps := []string{"ps1", "ps2", "ps1"}[i]
		proctest.WaitFor(t, 60*time.Second, machineName(i)+" in the inventory and replication enabled", func() (bool, string) {
			out, code := s.tryOSR("replication", "enable", machineName(i), "--policy", "gold", "--vault", "lab", "--process-server", ps)
			return code == 0, out
		})
	}
	proctest.WaitFor(t, 150*time.Second, "every source protected", func() (bool, string) {
		items := s.items()
		for i := range 3 {
			it, ok := items[machineName(i)]
			if !ok || it.State != "protected" || it.LastPointID == "" {
				return false, fmt.Sprintf("%+v", items)
			}
		}
		return true, ""
	})
	return s
}

func (s *site) startVault(dir string) {
	s.t.Helper()
	first := s.vault == nil
	s.vault = s.startIn(s.vaultHost, "vault", s.s3Env, "vault", "serve", "--data-dir", dir,
		"--listen", net.JoinHostPort(s.vaultHost.Addr, strconv.Itoa(vaultPort)),
		"--url", "https://"+s.vaultPx.Addr(), "--host", s.vaultHost.Addr, "--host", s.lab.Gateway)
	proctest.WaitFor(s.t, 30*time.Second, "the vault service", func() (bool, string) {
		if s.vault.Exited() {
			s.t.Fatal("osr vault serve exited")
		}
		if _, err := os.Stat(filepath.Join(dir, "vault.url")); first && err != nil {
			return false, "no vault.url yet"
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort(s.vaultHost.Addr, strconv.Itoa(vaultPort)), time.Second)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
}

// startIn starts `osr ARGS` inside host h.
func (s *site) startIn(h *netlab.Host, name string, env []string, args ...string) *proctest.Proc {
	s.t.Helper()
	return s.procs.Start(name, env, h.Argv(append([]string{osrBin}, args...)...)...)
}

// run runs `osr ARGS` inside host h to completion.
func (s *site) run(h *netlab.Host, env []string, args ...string) (string, int) {
	s.t.Helper()
	return proctest.Run(s.t, 2*time.Minute, env, h.Argv(append([]string{osrBin}, args...)...)...)
}

// tryOSR runs the CLI against the vault from the test's side.
func (s *site) tryOSR(args ...string) (string, int) {
	s.t.Helper()
	return proctest.Run(s.t, time.Minute, s.cliEnv, append([]string{osrBin}, args...)...)
}

func (s *site) osr(args ...string) string {
	s.t.Helper()
	out, code := s.tryOSR(args...)
	if code != 0 {
		s.t.Fatalf("osr %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

type itemView struct {
	Machine     string `json:"machine"`
	State       string `json:"state"`
	LastPointID string `json:"last_point_id"`
	RPOSeconds  *int64 `json:"rpo_seconds"`
}

// items returns the protected items by machine (empty when the vault does not answer).
func (s *site) items() map[string]itemView {
	out, code := s.tryOSR("replication", "status", "--vault", "lab", "--json")
	m := map[string]itemView{}
	if code != 0 {
		return m
	}
	var list []itemView
	if json.Unmarshal([]byte(out), &list) != nil {
		return m
	}
	for _, it := range list {
		m[it.Machine] = it
	}
	return m
}

type alertView struct {
	Kind    string     `json:"kind"`
	Subject string     `json:"subject"`
	Raised  time.Time  `json:"raised"`
	Cleared *time.Time `json:"cleared"`
}

// alerts returns every alert, cleared ones too.
func (s *site) alerts() []alertView {
	var out []alertView
	decode(s.t, s.osr("alerts", "list", "--vault", "lab", "--all", "--json"), &out)
	return out
}

type pointView struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
}

func (s *site) points(machine string) []pointView {
	var out []pointView
	decode(s.t, s.osr("recovery-points", "list", machine, "--vault", "lab", "--json"), &out)
	return out
}

func decode(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, out)
	}
}

// ext4Loop makes a sparse image of sizeMiB at img with ext4 on a loop device, mounts it and
// returns the mount point.
func ext4Loop(t *testing.T, img string, sizeMiB int) string {
	t.Helper()
	for _, tool := range []string{"losetup", "mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: apt-get install e2fsprogs mount util-linux", tool)
		}
	}
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(sizeMiB)<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", dev).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	mnt := img + ".mnt"
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", dev, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}
