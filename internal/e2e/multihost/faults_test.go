//go:build linux

package multihost

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/opensiterecovery/osr/internal/e2e/proctest"
)

// row is one line of the fault table.
type row struct {
	fault     string
	machines  []string
	lost      string // "none" or the first lost write
	recovered string
	maxRPO    string
	alerts    string
}

// TestFaults runs the deployment through two phases of faults and checks every recovery point
// after each. Phase 1 puts a different network fault on each source at once (a cut link, a rate
// cap, packet loss) and delays the configuration server's traffic to the vault. Phase 2 is a bad
// day: vault storage goes down, and every component is killed with SIGKILL (a process server, an
// agent, the configuration server, the vault), while the other process server's cache disk is full.
func TestFaults(t *testing.T) {
	begin := time.Now()
	s := newSite(t)
	t.Logf("site up, every source protected, after %v", time.Since(begin).Round(time.Second))
	stop := make(chan struct{})
	errs := make(chan error, len(s.disks))
	var writers sync.WaitGroup
	for _, d := range s.disks {
		writers.Go(func() { d.run(stop, 50*time.Millisecond, errs) })
	}
	// The writers end before the disks' files are closed (their cleanups run after this).
	defer writers.Wait()
	defer close(stop)
	seen := map[string]map[string]bool{}
	s.verify(seen, errs)
	var rows []row

	// Phase 1: network faults, one per source, and a slow way to the vault.
	cut := time.Now()
	s.srcHosts[0].Cut()
	s.srcHosts[1].Rate(2000)
	s.srcHosts[2].Loss(5)
	s.vaultPx.SetDelay(300 * time.Millisecond)
	maxRPO := map[string]time.Duration{}
	sample := func() {
		for m, it := range s.items() {
			if it.RPOSeconds != nil {
				maxRPO[m] = max(maxRPO[m], time.Duration(*it.RPOSeconds)*time.Second)
			}
		}
	}
	raised := s.waitAlerts(t, 200*time.Second, []string{"item/src1"}, sample)
	s.srcHosts[0].Heal()
	s.srcHosts[1].Unrate()
	s.srcHosts[2].Heal()
	s.vaultPx.SetDelay(0)
	healed := time.Now()
	rec := s.waitRPO(t, 150*time.Second, healed, sample)
	cleared := s.waitCleared(t, 120*time.Second, []string{"item/src1"}, cut)
	lost := s.verify(seen, errs)
	rows = append(rows,
		row{"link cut (nft drop) until the RPO alert", []string{"src1"}, lost, dur(rec["src1"]), dur(maxRPO["src1"]), fmt.Sprintf("rpo-exceeded raised %s after the cut, cleared %s after the heal", raised["item/src1"].Sub(cut).Round(time.Second), cleared["item/src1"].Sub(healed).Round(time.Second))},
		row{"rate cap 2 Mbit/s (tbf)", []string{"src2"}, lost, dur(rec["src2"]), dur(maxRPO["src2"]), alertsOf(s, "item/src2")},
		row{"5 % packet loss (nft numgen)", []string{"src3"}, lost, dur(rec["src3"]), dur(maxRPO["src3"]), alertsOf(s, "item/src3")},
		row{"+300 ms each way, configuration server ↔ vault (proxy)", []string{"cs1"}, lost, "-", "-", alertsOf(s, "cs/cs1")})

	// Phase 2: storage down; every component killed; a full cache disk.
	maxRPO = map[string]time.Duration{}
	down := time.Now()
	s.s3.stop()
	filler := s.fillCache(t)
	s.ps[0].Kill()
	s.agents[1].Kill()
	s.cs.Kill()
	s.vault.Kill()
	time.Sleep(10 * time.Second)
	s.startVault(filepath.Join(s.root, "vault"))
	s.cs = s.startIn(s.csHost, "cs", nil, "config-server", "serve", "--data-dir", filepath.Join(s.root, "cs"), "--vault-interval", "3s")
	s.agents[1] = s.startIn(s.srcHosts[1], "src2", nil, "mobility", "serve", "--config", s.agentCfg[1])
	time.Sleep(10 * time.Second)
	s.ps[0] = s.startIn(s.psHosts[0], "ps1", s.s3Env, "process-server", "serve", "--config", s.psCfg[0])
	all := []string{"item/src1", "item/src2", "item/src3"}
	raised = s.waitAlerts(t, 200*time.Second, all, sample)
	s.s3.start()
	os.Remove(filler)
	healed = time.Now()
	rec = s.waitRPO(t, 180*time.Second, healed, sample)
	cleared = s.waitCleared(t, 120*time.Second, all, down)
	lost = s.verify(seen, errs)
	var al []string
	for _, a := range all {
		al = append(al, fmt.Sprintf("%s raised %s after the outage began, cleared %s after it ended", strings.TrimPrefix(a, "item/"),
			raised[a].Sub(down).Round(time.Second), cleared[a].Sub(healed).Round(time.Second)))
	}
	rows = append(rows, row{"storage outage (S3 server killed) with kill -9 of ps1, the agent of src2, the configuration server and the vault, and ps2's cache disk full",
		[]string{"src1", "src2", "src3"}, lost, dur(maxDur(rec)), dur(maxDur(maxRPO)), "rpo-exceeded: " + strings.Join(al, "; ")})

	var b strings.Builder
	fmt.Fprintf(&b, "\n| fault | machines | acknowledged writes lost | RPO back under %s after the fault ended | worst RPO seen | alerts |\n|---|---|---|---|---|---|\n", policyRPO)
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.fault, strings.Join(r.machines, ", "), r.lost, r.recovered, r.maxRPO, r.alerts)
	}
	var pts int
	for _, m := range seen {
		pts += len(m)
	}
	fmt.Fprintf(&b, "\n%d recovery points checked; %d, %d and %d bytes of acknowledged writes; whole suite %v\n", pts,
		s.disks[0].bytesWritten(), s.disks[1].bytesWritten(), s.disks[2].bytesWritten(), time.Since(begin).Round(time.Second))
	t.Log(b.String())
}

func dur(d time.Duration) string { return d.Round(time.Second).String() }

func maxDur(m map[string]time.Duration) time.Duration {
	var d time.Duration
	for _, v := range m {
		d = max(d, v)
	}
	return d
}

func alertsOf(s *site, subject string) string {
	var out []string
	for _, a := range s.alerts() {
		if a.Subject == subject {
			st := "open"
			if a.Cleared != nil {
				st = "cleared"
			}
			out = append(out, a.Kind+" ("+st+")")
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// waitAlerts waits until an rpo-exceeded alert is open for every subject, calling tick on the way,
// and returns when each was raised.
func (s *site) waitAlerts(t *testing.T, within time.Duration, subjects []string, tick func()) map[string]time.Time {
	t.Helper()
	got := map[string]time.Time{}
	proctest.WaitFor(t, within, fmt.Sprintf("rpo-exceeded alerts of %v", subjects), func() (bool, string) {
		tick()
		out, code := s.tryOSR("alerts", "list", "--vault", "lab", "--json")
		if code != 0 {
			return false, out
		}
		var open []alertView
		decode(t, out, &open)
		for _, a := range open {
			if a.Kind == "rpo-exceeded" {
				if _, ok := got[a.Subject]; !ok {
					got[a.Subject] = a.Raised
				}
			}
		}
		for _, sub := range subjects {
			if _, ok := got[sub]; !ok {
				return false, out
			}
		}
		return true, ""
	})
	return got
}

// waitCleared waits until the rpo-exceeded alerts of subjects raised since since are cleared, and
// returns when each was.
func (s *site) waitCleared(t *testing.T, within time.Duration, subjects []string, since time.Time) map[string]time.Time {
	t.Helper()
	got := map[string]time.Time{}
	proctest.WaitFor(t, within, fmt.Sprintf("rpo-exceeded alerts of %v to clear", subjects), func() (bool, string) {
		all := s.alerts()
		for _, a := range all {
			if a.Kind == "rpo-exceeded" && a.Cleared != nil && !a.Raised.Before(since) {
				got[a.Subject] = *a.Cleared
			}
		}
		for _, sub := range subjects {
			if _, ok := got[sub]; !ok {
				return false, fmt.Sprintf("%+v", all)
			}
		}
		return true, ""
	})
	return got
}

// waitRPO waits until every source's RPO is under the policy's threshold again and returns, per
// machine, how long after from that took.
func (s *site) waitRPO(t *testing.T, within time.Duration, from time.Time, tick func()) map[string]time.Duration {
	t.Helper()
	got := map[string]time.Duration{}
	proctest.WaitFor(t, within, "every RPO under the threshold", func() (bool, string) {
		tick()
		items := s.items()
		for i := range s.disks {
			m := machineName(i)
			it, ok := items[m]
			if _, done := got[m]; done {
				continue
			}
			// A new point after from, and an RPO under the threshold.
			if ok && it.RPOSeconds != nil && time.Duration(*it.RPOSeconds)*time.Second < policyRPO && time.Now().Add(-time.Duration(*it.RPOSeconds)*time.Second).After(from) {
				got[m] = time.Since(from)
			}
		}
		return len(got) == len(s.disks), fmt.Sprintf("%+v", items)
	})
	return got
}

// verify exports every committed point not checked yet and checks it against the workload; it
// fails the test on a lost write or a point that disappeared, and returns "none".
func (s *site) verify(seen map[string]map[string]bool, errs chan error) string {
	s.t.Helper()
	select {
	case err := <-errs:
		s.t.Fatalf("workload: %v", err)
	default:
	}
	pw := filepath.Join(filepath.Dir(s.psCfg[0]), "store.password")
	for i, d := range s.disks {
		m := machineName(i)
		if seen[m] == nil {
			seen[m] = map[string]bool{}
		}
		pts := s.points(m)
		listed := map[string]bool{}
		for _, p := range pts {
			listed[p.ID] = true
		}
		for id := range seen[m] {
			if !listed[id] {
				s.t.Fatalf("%s: committed point %s disappeared", m, id)
			}
		}
		for _, p := range pts {
			if seen[m][p.ID] {
				continue
			}
			out := filepath.Join(s.root, "export.img")
			args := []string{osrBin, "store", "export", "--repo", s.s3.url("lab"), "--password-file", pw, "--machine", m, "--point", p.ID, "--disk", "sda", "--out", out}
			if o, code := proctest.Run(s.t, 2*time.Minute, s.s3Env, args...); code != 0 {
				s.t.Fatalf("export %s point %s: exit %d\n%s", m, p.ID, code, o)
			}
			img, err := os.ReadFile(out)
			if err != nil {
				s.t.Fatal(err)
			}
			if len(img) != diskBytes {
				s.t.Fatalf("%s point %s: exported %d bytes, the disk has %d", m, p.ID, len(img), diskBytes)
			}
			if _, err := d.check(img, p.Time); err != nil {
				s.t.Fatalf("%s point %s (captured %s): %v", m, p.ID, p.Time.Format(time.RFC3339Nano), err)
			}
			os.Remove(out)
			seen[m][p.ID] = true
		}
	}
	return "none"
}

// fillCache fills ps2's cache file system but for 4 MiB and returns the filler's path.
func (s *site) fillCache(t *testing.T) string {
	t.Helper()
	mnt := filepath.Join(s.root, "ps2-cache.img.mnt")
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	filler := filepath.Join(mnt, "filler")
	if out, err := exec.Command("fallocate", "-l", fmt.Sprint(free-4<<20), filler).CombinedOutput(); err != nil {
		t.Fatalf("fallocate: %v: %s", err, out)
	}
	return filler
}
