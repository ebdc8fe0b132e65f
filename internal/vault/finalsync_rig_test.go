//go:build linux

package vault_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/csclient"
	"github.com/opensiterecovery/osr/internal/configserver/enroll"
	"github.com/opensiterecovery/osr/internal/configserver/prereq"
	"github.com/opensiterecovery/osr/internal/configserver/vaulttest"
	"github.com/opensiterecovery/osr/internal/mobility"
	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/processserver"
	"github.com/opensiterecovery/osr/internal/storage/backends"
	"github.com/opensiterecovery/osr/internal/store"
)

// fsRig is the real vault service, a configuration server registered with it, its default process
// server and one mobility agent on an ext4 loop device, all in this process, each talking to the
// next over its real TLS sockets. The agent and the process server are managed as the osr binary
// manages them: heartbeats and the configuration long poll through csclient, final sync orders
// through configserver.AgentFinalSyncs.
type fsRig struct {
	t      *testing.T
	v      *vaulttest.Vault
	cclock *clock.Fake // the configuration server's clock
	cs     *configserver.Server
	csDir  string
	ps     *processserver.Server
	repo   *store.Repo // the vault's replica store, as the process server opened it
	dev    string      // the protected disk
	mnt    string      // where its ext4 is mounted
	dir    string
	agent  *mobility.Agent
	stopAg context.CancelFunc // stops the agent's managed loop (heartbeats, configuration)
	stopCS context.CancelFunc // stops the configuration server (its API and its vault loops)

	psInterval time.Duration // between the process server's periodic heartbeats
	psOld      bool          // the process server ignores health asks (fsRigOptions)
	psKick     chan struct{} // an early process-server heartbeat (csclient.RunConfig.Kick)
}

func freeTCP(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ext4Loop makes a 64 MiB ext4 on a loop device and mounts it.
func ext4Loop(t *testing.T, dir string) (dev, mnt string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (loop devices, mount, FIFREEZE)")
	}
	for _, tool := range []string{"mkfs.ext4", "losetup", "mount", "e2fsck", "fsfreeze"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: apt-get install e2fsprogs mount util-linux", tool)
		}
	}
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Truncate(img, 64<<20)
	run("mkfs.ext4", "-q", "-F", img)
	dev = run("losetup", "-f", "--show", img)
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	mnt = filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	run("mount", dev, mnt)
	t.Cleanup(func() {
		exec.Command("fsfreeze", "--unfreeze", mnt).Run()
		exec.Command("umount", mnt).Run()
	})
	return dev, mnt
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// background runs fn until the test ends.
func background(t *testing.T, fn func(ctx context.Context)) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); fn(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return cancel
}

// startFSRig starts everything; uploadLimit (bytes/s, 0: none) slows the process server's uploads.
// The process server heartbeats every 100 ms.
func startFSRig(t *testing.T, uploadLimit int64, shutdownHook string) *fsRig {
	t.Helper()
	return startFSRigWith(t, fsRigOptions{UploadLimit: uploadLimit, ShutdownHook: shutdownHook, PSInterval: 100 * time.Millisecond})
}

// fsRigOptions are the choices of startFSRigWith.
type fsRigOptions struct {
	UploadLimit  int64 // bytes/s, 0: none
	ShutdownHook string
	PSInterval   time.Duration // between the process server's periodic heartbeats
	// PSIgnoresAsks makes the process server heartbeat as an osr before health asks did: at its
	// interval only, without health_answer.
	PSIgnoresAsks bool
}

// startFSRigWith is startFSRig with the process server's heartbeat interval and behaviour.
func startFSRigWith(t *testing.T, o fsRigOptions) *fsRig {
	t.Helper()
	uploadLimit, shutdownHook := o.UploadLimit, o.ShutdownHook
	r := &fsRig{t: t, v: vaulttest.StartVault(t), cclock: clock.NewFake(time.Now()), dir: t.TempDir(), psInterval: o.PSInterval, psOld: o.PSIgnoresAsks, psKick: make(chan struct{}, 1)}
	// The file systems come before the processes: their cleanups run after the processes stop.
	r.dev, r.mnt = ext4Loop(t, r.dir)
	ctx := context.Background()
	env := prereq.Default(nil)
	env.FreeBytes = func(string) (uint64, error) { return 700 << 30, nil }
	env.Clock = r.cclock
	r.csDir = filepath.Join(r.dir, "cs")
	apiPort := freeTCP(t)
	res, err := configserver.Install(ctx, configserver.InstallOptions{KeyText: r.v.Key(t), DataDir: r.csDir, CacheDir: filepath.Join(r.dir, "cache"), CacheBytes: 1 << 30,
		Port: freeTCP(t), APIPort: apiPort, ListenAddress: "127.0.0.1", Name: "cs1", Hostname: "cs1.example.net",
		HealthListen: fmt.Sprintf("127.0.0.1:%d", freeTCP(t)), Env: &env, Clock: r.cclock})
	if err != nil {
		t.Fatalf("install the configuration server: %v", err)
	}
	api, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", apiPort))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := net.Listen("unix", filepath.Join(r.dir, "admin.sock"))
	if err != nil {
		t.Fatal(err)
	}
	r.cs, err = configserver.New(configserver.Config{DataDir: r.csDir, Clock: r.cclock, API: api, Admin: admin, VaultInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.stopCS = background(t, func(ctx context.Context) { r.cs.Run(ctx) })
	csAddr := api.Addr().String()

	// The agent enrolls with the passphrase; replication is enabled in the vault.
	key := configserver.NewKey()
	er, err := enroll.Enroll(ctx, enroll.ClientRequest{Address: csAddr, Passphrase: res.Passphrase, Role: enroll.RoleAgent, Name: "web01", Key: key,
		Info: configserver.AgentInfo{Hostname: "web01.example.net", OS: "linux", Addresses: []string{"10.0.0.21"}}})
	if err != nil {
		t.Fatal(err)
	}
	agDir := filepath.Join(r.dir, "agent")
	if err := configserver.WriteIdentity(agDir, configserver.HolderIdentity{Role: enroll.RoleAgent, Name: "web01", Cert: er.Cert, CA: er.CA, Root: er.Root,
		Key: key, ConfigServerAddr: csAddr}); err != nil {
		t.Fatal(err)
	}
	if err := r.cs.VaultOnce(ctx); err != nil {
		t.Fatal(err)
	}
	r.v.Replicate(t, "cs1", "web01", "")
	psDir := filepath.Join(r.csDir, configserver.ProcessServerDir)
	var pc *processserver.Config
	waitUntil(t, "the store settings of the default process server", 10*time.Second, func() bool {
		pc, err = processserver.LoadConfig(filepath.Join(psDir, configserver.PSConfigFile))
		return err == nil && pc.Store.Repo != ""
	})
	r.startPS(pc, uploadLimit)

	// The agent: its data path and its managed loop.
	cs, err := csclient.Load(filepath.Join(agDir, configserver.LinkFile))
	if err != nil {
		t.Fatal(err)
	}
	var ac *configserver.AgentConfig
	waitUntil(t, "the agent to be told to replicate", 30*time.Second, func() bool {
		select { // the configuration server rates the process server by its newest heartbeat
		case r.psKick <- struct{}{}:
		default:
		}
		ac, err = cs.AgentConfig(ctx, 0, 0)
		return err == nil && ac.Replicate && ac.ProcessServer != ""
	})
	yml := fmt.Sprintf(`machine: web01
process_server: %s
tls: {ca: %s, cert: %s, key: %s}
state_dir: %s
tracker: scan
crash_consistent_interval: 1h
app_consistent_interval: 2h
freeze_timeout: 5s
initial_point_size: 4MiB
hooks: {shutdown: %q, timeout: 10s}
disks:
  - {name: sdb, path: %s}
`, ac.ProcessServer, configserver.IdentityRoot, configserver.IdentityCert, configserver.IdentityKey, filepath.Join(r.dir, "agent-state"), shutdownHook, r.dev)
	mcfg, err := mobility.ParseConfig([]byte(yml), agDir)
	if err != nil {
		t.Fatal(err)
	}
	if r.agent, err = mobility.New(mcfg, mobility.Options{NoSocket: true, BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.agent.Close() })
	background(t, func(ctx context.Context) { r.agent.Run(ctx) })
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	fs := configserver.NewAgentFinalSyncs(func(ctx context.Context, shutdown bool) (string, uint64, error) {
		res, err := r.agent.FinalSync(ctx, shutdown)
		return res.PointID, res.Seq, err
	}, poke)
	r.stopAg = background(t, func(ctx context.Context) {
		cs.Run(ctx, csclient.RunConfig{Interval: 200 * time.Millisecond, Wait: 2 * time.Second, Kick: kick,
			Heartbeat: func() any { return agentBeat(r.agent.Status(), fs.Report()) },
			OnConfig: func(ctx context.Context, raw json.RawMessage) {
				var c configserver.AgentConfig
				if err := json.Unmarshal(raw, &c); err == nil {
					fs.Handle(ctx, c.FinalSync)
				}
			}})
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		it, err := r.v.Svc.GetItem(ctx, "lab", "web01")
		if err == nil && it.State == "protected" {
			break
		}
		if time.Now().After(deadline) {
			st := r.agent.Status()
			t.Fatalf("the machine is not protected in the vault: item %+v %v; agent %s, error %q, events %+v", it, err, st.State, st.LastError, st.Events)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return r
}

// agentBeat is the managed agent's report (as cmd/osr's managed agent makes it).
func agentBeat(st mobility.Status, fs *configserver.FinalSyncReport) configserver.AgentHeartbeat {
	hb := configserver.AgentHeartbeat{Version: "test", State: "enabling", InitialPercent: st.InitialPercent, LastPointID: st.PointID, FinalSync: fs}
	if !st.CaptureTime.IsZero() {
		t := st.CaptureTime.UTC()
		hb.LastPointTime = &t
	}
	switch st.State {
	case mobility.StateInitialReplication, mobility.StateResynchronising:
		hb.State = st.State
	case mobility.StateProtected, mobility.StateStopped, mobility.StateDisconnected:
		hb.State = mobility.StateProtected
	}
	if hb.State == mobility.StateProtected && hb.LastPointTime == nil {
		hb.State = mobility.StateInitialReplication
	}
	return hb
}

// startPS runs the default process server in this process on the vault's store, with its
// heartbeat (its health document) going to the configuration server.
func (r *fsRig) startPS(pc *processserver.Config, uploadLimit int64) {
	t := r.t
	ctx := context.Background()
	id, err := pki.LoadIdentity(pc.TLS.Cert, pc.TLS.Key, pc.TLS.CA)
	if err != nil {
		t.Fatal(err)
	}
	be, err := backends.Open(ctx, pc.Store.Repo, backends.Options{UploadLimit: uploadLimit})
	if err != nil {
		t.Fatal(err)
	}
	pw, err := os.ReadFile(pc.Store.PasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	if r.repo, err = store.Open(ctx, be, pw, store.Options{}); err != nil {
		t.Fatal(err)
	}
	if r.ps, err = processserver.New(*pc, processserver.Deps{Repo: r.repo, Identity: id}); err != nil {
		t.Fatal(err)
	}
	ln, err := r.ps.Listen()
	if err != nil {
		t.Fatal(err)
	}
	background(t, func(ctx context.Context) { r.ps.Serve(ctx, ln) })
	cs, err := csclient.Load(filepath.Join(r.csDir, configserver.ProcessServerDir, configserver.LinkFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Heartbeat(ctx, r.ps.Health()); err != nil {
		t.Fatalf("process server heartbeat: %v", err)
	}
	if r.psOld {
		background(t, func(ctx context.Context) {
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(r.psInterval):
				}
				cs.Heartbeat(ctx, r.ps.Health())
			}
		})
		return
	}
	background(t, func(ctx context.Context) {
		cs.Run(ctx, csclient.RunConfig{Interval: r.psInterval, Wait: 2 * time.Second, Kick: r.psKick,
			Heartbeat: func() any { return r.ps.Health() }, OnConfig: func(context.Context, json.RawMessage) {}})
	})
}

// export writes disk sdb of a recovery point into a file.
func (r *fsRig) export(pointID string) string {
	r.t.Helper()
	ctx := context.Background()
	pt, err := r.repo.LoadPoint(ctx, pointID)
	if err != nil {
		r.t.Fatal(err)
	}
	dr, err := r.repo.OpenDisk(pt, "sdb")
	if err != nil {
		r.t.Fatal(err)
	}
	out := filepath.Join(r.t.TempDir(), "sdb.img")
	f, err := os.Create(out)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	if err := dr.Export(ctx, f, store.ExportOptions{}); err != nil {
		r.t.Fatal(err)
	}
	return out
}
