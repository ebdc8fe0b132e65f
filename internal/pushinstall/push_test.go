package pushinstall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/accounts"
	"github.com/opensiterecovery/osr/internal/configserver/vaulttest"
	"github.com/opensiterecovery/osr/internal/e2e/sshhost"
	"github.com/opensiterecovery/osr/internal/installrepo"
	"github.com/opensiterecovery/osr/internal/processserver"
	"golang.org/x/crypto/ssh"
)

// buildOSR builds the osr binary (the agent build that is pushed).
func buildOSR(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "osr")
	cmd := exec.Command("go", "build", "-o", out, "github.com/opensiterecovery/osr/cmd/osr")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build osr: %v\n%s", err, b)
	}
	return out
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

type csEnv struct {
	data, pass, api string
	acc             *accounts.Store
	vault           *vaulttest.Vault
}

// startConfigServer installs and serves a real configuration server (the built binary) registered
// with a real vault; its API listens on every address, so namespace hosts reach it.
func startConfigServer(t *testing.T, bin, listen string) *csEnv {
	t.Helper()
	v := vaulttest.StartVault(t)
	tmp := t.TempDir()
	keyFile := filepath.Join(tmp, "vault.key")
	os.WriteFile(keyFile, []byte(v.Key(t)+"\n"), 0o600)
	cs := &csEnv{data: filepath.Join(tmp, "cs"), api: freePort(t), vault: v}
	// The cache on its own tmpfs (allocated as written): the process server stops reading below 25%
	// free, which a shared test machine's disk may be.
	cache := filepath.Join(tmp, "cache")
	os.MkdirAll(cache, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8g,mode=0700", "tmpfs", cache).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs for the cache: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", cache).Run() })
	if out, err := exec.Command(bin, "config-server", "install", "--registration-key", keyFile, "--cache-dir", cache,
		"--port", freePort(t), "--api-port", cs.api, "--data-dir", cs.data, "--listen-address", listen, "--name", "cs1",
		"--health-listen", "127.0.0.1:"+freePort(t)).CombinedOutput(); err != nil {
		t.Fatalf("config-server install: %v\n%s", err, out)
	}
	pass, err := exec.Command(bin, "config-server", "passphrase", "--data-dir", cs.data).Output()
	if err != nil {
		t.Fatal(err)
	}
	cs.pass = strings.TrimSpace(string(pass))
	serve(t, filepath.Join(tmp, "cs.log"), bin, "config-server", "serve", "--data-dir", cs.data, "--vault-interval", "1s")
	for i := 0; ; i++ {
		if _, err := os.Stat(filepath.Join(cs.data, configserver.AdminSocket)); err == nil {
			break
		}
		if i > 200 {
			t.Fatal("the configuration server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The default process server, on the same address (agents in the namespaces reach it).
	serve(t, filepath.Join(tmp, "ps.log"), bin, "process-server", "serve", "--config", filepath.Join(cs.data, configserver.ProcessServerDir, configserver.PSConfigFile))
	cs.acc, err = accounts.New(accounts.Options{Dir: cs.data})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// serve runs a server process until the test ends; its log is shown when the test failed.
func serve(t *testing.T, log, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := exec.CommandContext(ctx, bin, args...)
	logf, _ := os.Create(log)
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = srv.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("%s:\n%s", args[0], tailText(b, 4000))
		}
	})
}

func tailText(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func addKeyAccount(t *testing.T, s *accounts.Store, name string, h *sshhost.Host) {
	t.Helper()
	if err := s.Add(context.Background(), accounts.Account{Name: name, Type: accounts.SSH, User: "root", SecretKind: accounts.Key}, h.ClientKey); err != nil {
		t.Fatal(err)
	}
}

// files lists everything under dir, relative.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// agentProcs counts processes whose command line names a file under root.
func agentProcs(root string) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(root+"/opt/osr/bin/")) {
			n++
		}
	}
	return n
}

func TestPushInstall(t *testing.T) {
	bin := buildOSR(t)
	var hosts []*sshhost.Host
	for range 3 {
		hosts = append(hosts, sshhost.Start(t, sshhost.Options{}))
	}
	spare := sshhost.Start(t, sshhost.Options{})
	freebsd := sshhost.Start(t, sshhost.Options{Uname: "FreeBSD amd64"})
	// After the hosts: its certificate names the gateway addresses. The default process server
	// listens on the first host's gateway, which every namespace host routes to.
	cs := startConfigServer(t, bin, hosts[0].Gateway)

	for i, h := range hosts {
		addKeyAccount(t, cs.acc, fmt.Sprintf("h%d", i), h)
	}
	addKeyAccount(t, cs.acc, "spare", spare)
	addKeyAccount(t, cs.acc, "freebsd", freebsd)
	repo, _ := installrepo.Open(t.TempDir())
	sum, err := repo.AddFile(context.Background(), installrepo.LinuxAMD64, bin)
	if err != nil {
		t.Fatal(err)
	}
	csAddr := net.JoinHostPort(hosts[0].Gateway, cs.api)
	cfg := Config{Secrets: cs.acc, Builds: repo, KnownHosts: NewKnownHosts(filepath.Join(cs.data, "known_hosts")),
		Heartbeats: AdminSocket{Path: filepath.Join(cs.data, configserver.AdminSocket)}, ConfigServer: csAddr, Passphrase: cs.pass,
		Parallel: 2, DialTimeout: 5 * time.Second, HeartbeatTimeout: 60 * time.Second}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	target := func(i int) Target {
		h := hosts[i]
		img := filepath.Join(h.Dir, "sda.img")
		os.WriteFile(img, bytes.Repeat([]byte{byte(i + 1)}, 4<<20), 0o600)
		return Target{Machine: fmt.Sprintf("src%d", i), Address: h.Addr, Account: fmt.Sprintf("h%d", i), Root: h.Root, Disks: []string{"sda=" + img}}
	}
	ctx := context.Background()

	t0 := time.Now()
	defer func() { t.Logf("total %s", time.Since(t0)) }()
	// Three hosts at once (two at a time): each installs, registers and heartbeats Connected.
	targets := []Target{target(0), target(1), target(2)}
	for i, r := range p.PushAll(ctx, targets) {
		if r.Err != nil {
			t.Fatalf("push %d: %v", i, r.Err)
		}
		if r.Machine != targets[i].Machine || r.Action != "installed" || r.Platform != "linux/amd64" || r.SHA256 != sum || r.Service != Supervised || r.Status != "Connected" {
			t.Fatalf("push %d: %+v", i, r)
		}
		if b, err := os.ReadFile(filepath.Join(hosts[i].Root, "opt/osr/bin/osr")); err != nil || len(b) == 0 {
			t.Fatalf("binary on host %d: %v", i, err)
		}
		if agentProcs(hosts[i].Root) == 0 {
			t.Fatalf("no agent running on host %d", i)
		}
	}

	t.Logf("3 hosts pushed in %s", time.Since(t0))
	// A second push upgrades in place: same identity, service restarted, still Connected.
	pidFile := filepath.Join(hosts[0].Root, "var/lib/osr/supervisor.pid")
	before, _ := os.ReadFile(pidFile)
	cert, _ := os.ReadFile(filepath.Join(hosts[0].Root, "etc/osr/mobility", configserver.IdentityCert))
	r := p.Push(ctx, target(0))
	after, _ := os.ReadFile(pidFile)
	cert2, _ := os.ReadFile(filepath.Join(hosts[0].Root, "etc/osr/mobility", configserver.IdentityCert))
	if r.Err != nil || r.Action != "upgraded" || r.Status != "Connected" || bytes.Equal(before, after) || !bytes.Equal(cert, cert2) {
		t.Fatalf("upgrade: %+v; pid %q → %q; same cert %v", r, before, after, bytes.Equal(cert, cert2))
	}

	// Enabling replication on one machine runs its initial replication to completion.
	cs.vault.Replicate(t, "cs1", "src1", "cs1")
	deadline := time.Now().Add(90 * time.Second)
	for {
		it, err := cs.vault.Svc.GetItem(ctx, "lab", "src1")
		if err == nil && it.State == "protected" && it.InitialPercent == 100 && it.LastPointID != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("initial replication of src1 did not complete: %+v %v", it, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The recovery point holds the host's disk, byte for byte.
	pc, err := processserver.LoadConfig(filepath.Join(cs.data, configserver.ProcessServerDir, configserver.PSConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	exported := filepath.Join(t.TempDir(), "sda.raw")
	if out, err := exec.Command(bin, "store", "export", "--repo", pc.Store.Repo, "--password-file", pc.Store.PasswordFile,
		"--point", "latest", "--machine", "src1", "--disk", "sda", "--out", exported).CombinedOutput(); err != nil {
		t.Fatalf("store export: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(exported)
	if want := bytes.Repeat([]byte{2}, 4<<20); !bytes.Equal(got, want) {
		t.Fatalf("exported disk of src1: %d bytes, differs from the host's disk", len(got))
	}

	// Failures: a clear job error each, and the host left as it was.
	wrongPass := []byte(cs.pass)
	if wrongPass[0] == 'A' {
		wrongPass[0] = 'B'
	} else {
		wrongPass[0] = 'A'
	}
	badCfg := cfg
	badCfg.Passphrase = string(wrongPass)
	pBad, _ := New(badCfg)
	unreachable := strings.TrimSuffix(hosts[0].Addr, ".2") + ".3"
	tests := []struct {
		name   string
		p      *Pusher
		target Target
		want   string
	}{
		{"wrong credentials", p, Target{Machine: "bad1", Address: spare.Addr, Account: "h0", Root: spare.Root, Disks: []string{"sda=/dev/null"}},
			fmt.Sprintf("machine bad1: ssh login to %s:22 as root refused: wrong user name, password or key", spare.Addr)},
		{"unreachable host", p, Target{Machine: "bad2", Address: unreachable, Account: "h0", Root: spare.Root},
			fmt.Sprintf("machine bad2: connect to %s:22: connect: no route to host", unreachable)},
		{"unsupported OS", p, Target{Machine: "bad3", Address: freebsd.Addr, Account: "freebsd", Root: freebsd.Root},
			`machine bad3: unsupported operating system "FreeBSD amd64": push install supports Linux on x86_64 and aarch64 (Windows: install manually)`},
		{"wrong passphrase", pBad, Target{Machine: "bad4", Address: spare.Addr, Account: "spare", Root: spare.Root, Disks: []string{"sda=" + filepath.Join(hosts[1].Dir, "sda.img")}},
			fmt.Sprintf("machine bad4: register with the configuration server at %s: the configuration server did not prove it knows this passphrase: the passphrase is wrong, or the address is not that configuration server", csAddr)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.p.Push(ctx, tc.target)
			if r.Err == nil || r.Err.Error() != tc.want {
				t.Fatalf("error %v\nwant  %s", r.Err, tc.want)
			}
			for _, h := range []*sshhost.Host{spare, freebsd} {
				if f := files(t, h.Root); len(f) != 0 {
					t.Fatalf("host %s not clean: %v", h.Addr, f)
				}
			}
			if out, _ := exec.Command("sh", "-c", "ls /tmp | grep -c '^osr-push\\.' || true").Output(); strings.TrimSpace(string(out)) != "0" {
				t.Fatalf("staging directories left: %s", out)
			}
		})
	}

	// Manual install on the fourth host from the install repository over HTTPS, with the served
	// script: a wrong checksum is refused (exit 5, nothing installed); the right one installs the
	// build, registers the machine with the passphrase, and its agent heartbeats Connected.
	manualInstall(t, bin, repo, sum, spare, hosts[0].Gateway, csAddr, cs)

	// Windows accounts: WinRM is not available.
	cs.acc.Add(ctx, accounts.Account{Name: "win", Type: accounts.Windows, User: "Administrator", SecretKind: accounts.Password}, []byte("pw"))
	if r := p.Push(ctx, Target{Machine: "win1", Address: "10.231.0.9", Account: "win"}); r.Err == nil ||
		r.Err.Error() != "machine win1: WinRM push is not available: install the agent manually with osr mobility install" {
		t.Fatalf("windows: %v", r.Err)
	}

	// Uninstall stops the agent and removes every file the install made.
	if err := p.Uninstall(ctx, target(2)); err != nil {
		t.Fatal(err)
	}
	if f := files(t, hosts[2].Root); len(f) != 0 {
		t.Fatalf("after uninstall: %v", f)
	}
	if n := agentProcs(hosts[2].Root); n != 0 {
		t.Fatalf("%d agent processes after uninstall", n)
	}
	if err := p.Uninstall(ctx, target(2)); err == nil || err.Error() != "machine src2: the mobility service is not installed" {
		t.Fatalf("second uninstall: %v", err)
	}
}

func manualInstall(t *testing.T, bin string, repo *installrepo.Repo, sum string, h *sshhost.Host, gateway, csAddr string, cs *csEnv) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(gateway, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(repo.Handler(nil))
	srv.Listener.Close()
	srv.Listener = ln
	srv.StartTLS()
	defer srv.Close()
	passFile := filepath.Join(h.Dir, "passphrase")
	os.WriteFile(passFile, []byte(cs.pass+"\n"), 0o600)
	disk := filepath.Join(h.Dir, "sda.img")
	os.WriteFile(disk, make([]byte, 1<<20), 0o600)
	c, err := ssh.Dial("tcp", net.JoinHostPort(h.Addr, "22"), &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(h.Signer(t))},
		HostKeyCallback: ssh.FixedHostKey(h.HostKey)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	run := func(cmd string) (string, int) {
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		out, err := s.CombinedOutput(cmd)
		var ee *ssh.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitStatus()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	l := Layout{Root: h.Root}
	script := fmt.Sprintf("curl -fsSk %s/agents/install.sh | OSR_PREFIX=%s OSR_CURL=-k sh -s -- --sha256 %%s -- --config-server %s --passphrase-file %s --name manual1 --disk sda=%s --dir %s --state-dir %s",
		srv.URL, h.Root, csAddr, passFile, disk, l.ConfigDir(), l.StateDir())
	wrong := strings.Repeat("0", 64)
	out, code := run(fmt.Sprintf(script, wrong))
	if want := fmt.Sprintf("osr install: checksum mismatch for linux-amd64/osr: got %s, expected %s; nothing was installed\n", sum, wrong); code != 5 || out != want {
		t.Fatalf("manual install with a wrong checksum: exit %d %q", code, out)
	}
	if f := files(t, h.Root); len(f) != 0 {
		t.Fatalf("refused install left %v", f)
	}
	out, code = run(fmt.Sprintf(script, sum))
	if code != 0 || !strings.Contains(out, "osr install: linux-amd64 build "+sum+" installed in "+h.Root+"/opt/osr/bin/osr\n") ||
		!strings.Contains(out, "Machine manual1 registered with the configuration server at "+csAddr+"; process server cs1") {
		t.Fatalf("manual install: exit %d\n%s", code, out)
	}
	if _, code := run(fmt.Sprintf("setsid %s mobility serve --config %s </dev/null >%s/agent.log 2>&1 &", l.Binary(), l.Config(), h.Dir)); code != 0 {
		t.Fatal("start the agent")
	}
	hb := AdminSocket{Path: filepath.Join(cs.data, configserver.AdminSocket)}
	for i := 0; ; i++ {
		st, _, err := hb.AgentStatus(context.Background(), "manual1")
		if err == nil && st == configserver.Connected {
			break
		}
		if i > 400 {
			log, _ := os.ReadFile(filepath.Join(h.Dir, "agent.log"))
			t.Fatalf("manual1: %s %v\n%s", st, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
