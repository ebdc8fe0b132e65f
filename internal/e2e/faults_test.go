//go:build linux

package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/e2e/faultproxy"
)

// TestConnectionCut: the agent talks to the process server through a proxy that resets every
// connection at random moments, mid-stream; replication resumes by itself each time. Then the
// link gets 40 ms of latency, and stalls for 5 s without a reset.
func TestConnectionCut(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	disk := newLoopDisk(t, dir, "sda", 96<<20)
	c := newCluster(t, dir, clusterOptions{})
	c.dumpOnFailure()
	proxy, err := faultproxy.New("127.0.0.1:0", c.psAddr, faultproxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	w := startWorkload(t, dir, 5, disk)
	a := c.newAgent("cut01", proxy.Addr(), disk)
	a.start()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	seen := map[string]point{}
	cuts := 0
	for range 8 {
		// Cut while data flows: wait until bytes move, then a little more.
		before := proxy.Stats().Up
		waitFor(t, 30*time.Second, "data to flow through the proxy", func() (bool, string) {
			return proxy.Stats().Up > before, fmt.Sprintf("%d bytes up", proxy.Stats().Up)
		})
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		for id, p := range committedBefore(t, c, a.machine) {
			seen[id] = p
		}
		cuts += proxy.Cut()
	}
	if cuts < 8 {
		t.Fatalf("cut %d connections in 8 cuts", cuts)
	}
	// 40 ms each way (a WAN link): points keep coming.
	proxy.SetDelay(40 * time.Millisecond)
	c.waitPoints(a.machine, 2, time.Now(), 60*time.Second)
	proxy.SetDelay(0)
	// A stall with no reset (the proxy holds the data for 5 s), then the link is back.
	proxy.Pause()
	time.Sleep(5 * time.Second)
	proxy.Resume()
	lastCut := time.Now()
	afterFault(t, c, a, w, dir, seen, lastCut, "connect")
	if a.p.exited() {
		t.Fatalf("the agent exited: %v", a.p.err)
	}
}

// afterFault checks that replication resumed after a fault: new points, the RPO back, nothing
// committed lost, the newest point verifies, an event names what happened.
func afterFault(t *testing.T, c *cluster, a *agent, w *workload, dir string, seen map[string]point, since time.Time, eventWord string) {
	t.Helper()
	ps := c.waitPoints(a.machine, 2, since, 120*time.Second)
	st := a.waitRPO(15*time.Second, 60*time.Second)
	t.Logf("RPO back to %.1fs %v after the fault ended", st.RPOSeconds, time.Since(since).Round(100*time.Millisecond))
	w.stop(t)
	now := committedBefore(t, c, a.machine)
	for id, p := range seen {
		if _, ok := now[id]; !ok {
			t.Errorf("point %s (%s) committed before the fault is gone", id[:12], p.Time.Format("15:04:05.000"))
		}
	}
	c.storeCheck()
	t.Logf("newest point %s: %s", ps[len(ps)-1].ID[:12], checkPoint(t, c.vault, dir, ps[len(ps)-1], w).out)
	if !hasEvent(st, eventWord) {
		t.Errorf("no event mentions %q; events:\n%s", eventWord, st.events())
	}
}

// TestCacheFull: the process server's cache is a small ext4 of its own; filling it (a ballast
// file) stops the process server from reading, the agent reports why and keeps tracking, and
// once space is back replication resumes.
func TestCacheFull(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	cacheDisk := newLoopDisk(t, dir, "cache", 64<<20)
	disk := newLoopDisk(t, dir, "sda", 64<<20)
	c := newCluster(t, dir, clusterOptions{cacheDir: filepath.Join(cacheDisk.mnt, "cache")})
	c.dumpOnFailure()
	w := startWorkload(t, dir, 6, disk)
	a := c.newAgent("cache01", c.psAddr, disk)
	started := time.Now()
	a.start()
	c.waitPoints(a.machine, 1, started, 60*time.Second)
	seen := committedBefore(t, c, a.machine)
	// Fill the cache file system to 90%.
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(cacheDisk.mnt, &sfs); err != nil {
		t.Fatal(err)
	}
	total, free := int64(sfs.Blocks)*sfs.Bsize, int64(sfs.Bavail)*sfs.Bsize
	ballast := filepath.Join(cacheDisk.mnt, "ballast")
	size := free - total/10
	run(t, nil, "fallocate", "-l", fmt.Sprint(size), ballast)
	full := time.Now()
	waitFor(t, 60*time.Second, "the agent to report that the process server's cache is full", func() (bool, string) {
		st, err := a.status()
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(strings.ToLower(st.ServerStatus), "cache"), fmt.Sprintf("process_server_status %q state %s", st.ServerStatus, st.State)
	})
	time.Sleep(3 * time.Second) // full for a while, with the workload writing
	if a.p.exited() || c.ps.exited() {
		t.Fatalf("a process exited while the cache was full: agent %v, process server %v", a.p.err, c.ps.err)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	t.Logf("cache full for %v", time.Since(full).Round(time.Millisecond))
	afterFault(t, c, a, w, dir, seen, time.Now(), "cache")
}

// servicesDir is where scripts/services.sh installed versitygw and Azurite.
func servicesDir(t *testing.T) string {
	t.Helper()
	d := os.Getenv("OSR_SERVICES_DIR")
	if d == "" {
		root, _ := filepath.Abs("../..")
		d = filepath.Join(root, ".services")
	}
	if _, err := os.Stat(filepath.Join(d, "bin", "versitygw")); err != nil {
		t.Fatalf("versitygw is not installed in %s: run scripts/services.sh start", d)
	}
	return d
}

// ownServices starts a private copy of the test servers with scripts/services.sh (sharing the
// installed programs), so that stopping one does not disturb other tests; it returns the
// environment of its env file and a function running services.sh with more arguments.
func ownServices(t *testing.T, dir string) ([]string, func(args ...string)) {
	t.Helper()
	shared := servicesDir(t)
	own := filepath.Join(dir, "services")
	if err := os.MkdirAll(own, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"bin", "node"} {
		if err := os.Symlink(filepath.Join(shared, sub), filepath.Join(own, sub)); err != nil {
			t.Fatal(err)
		}
	}
	script, _ := filepath.Abs("../../scripts/services.sh")
	svc := func(args ...string) {
		t.Helper()
		run(t, []string{"OSR_SERVICES_DIR=" + own}, script, args...)
	}
	svc("start")
	t.Cleanup(func() {
		cmd := exec.Command(script, "stop")
		cmd.Env = append(os.Environ(), "OSR_SERVICES_DIR="+own)
		cmd.Run()
	})
	out := run(t, nil, "bash", "-c", "set -a; source "+filepath.Join(own, "env")+"; env")
	var env []string
	for _, l := range strings.Split(out, "\n") {
		for _, k := range []string{"AWS_", "AZURE_", "OSR_TEST_"} {
			if strings.HasPrefix(l, k) {
				env = append(env, l)
			}
		}
	}
	return env, svc
}

// TestStorageOutage: the vault store is S3 (versitygw); it is stopped for a minute
// (OSR_E2E_OUTAGE overrides) and started again on the same port and data while the workload
// keeps writing.
func TestStorageOutage(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	env, svc := ownServices(t, dir)
	var endpoint string
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "OSR_TEST_S3_ENDPOINT="); ok {
			endpoint = v
		}
	}
	outage := time.Minute
	if v := os.Getenv("OSR_E2E_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("OSR_E2E_OUTAGE: %v", err)
		}
		outage = d
	}
	disk := newLoopDisk(t, dir, "sda", 64<<20)
	c := newCluster(t, dir, clusterOptions{storeURL: fmt.Sprintf("s3://%s/osr-e2e-outage/vault?tls=false", endpoint), storeEnv: env})
	c.dumpOnFailure()
	w := startWorkload(t, dir, 7, disk)
	a := c.newAgent("s3out01", c.psAddr, disk)
	started := time.Now()
	a.start()
	c.waitPoints(a.machine, 2, started, 60*time.Second)
	seen := committedBefore(t, c, a.machine)
	svc("stop-one", "versitygw")
	down := time.Now()
	waitFor(t, outage+30*time.Second, "the agent to see the storage outage", func() (bool, string) {
		st, err := a.status()
		if err != nil {
			return false, err.Error()
		}
		s := strings.ToLower(st.ServerStatus + " " + st.LastError)
		return strings.Contains(s, "storage"), fmt.Sprintf("process_server_status %q, rpo %.1fs", st.ServerStatus, st.RPOSeconds)
	})
	if rest := outage - time.Since(down); rest > 0 {
		time.Sleep(rest)
	}
	if a.p.exited() || c.ps.exited() {
		t.Fatalf("a process exited during the outage: agent %v, process server %v", a.p.err, c.ps.err)
	}
	if st, err := a.status(); err == nil {
		t.Logf("at the end of the outage: RPO %.1fs, process server status %q", st.RPOSeconds, st.ServerStatus)
	}
	svc("start-one", "versitygw")
	t.Logf("storage down for %v", time.Since(down).Round(time.Millisecond))
	afterFault(t, c, a, w, dir, seen, time.Now(), "storage")
}
