//go:build linux

package vault_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/vault"
)

func workloadFile(n int64) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("file %06d written and fsynced\n", n)), 1+int(n%89)*11)
}

// workload writes numbered files with fsync and counts those acknowledged.
func workload(t *testing.T, dir string) (acked *atomic.Int64, stop func()) {
	acked = &atomic.Int64{}
	quit, done := make(chan struct{}), make(chan error, 1)
	go func() {
		for n := int64(0); ; n++ {
			select {
			case <-quit:
				done <- nil
				return
			default:
			}
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("w%06d", n)))
			if err == nil {
				if _, err = f.Write(workloadFile(n)); err == nil {
					err = f.Sync()
				}
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				done <- err
				return
			}
			acked.Store(n + 1)
		}
	}()
	return acked, func() {
		close(quit)
		if err := <-done; err != nil {
			t.Fatalf("workload: %v", err)
		}
	}
}

// mountRO checks img with fsck.ext4 -n -f, mounts it read-only and returns the mount point.
func mountRO(t *testing.T, img string) string {
	t.Helper()
	if out, err := exec.Command("fsck.ext4", "-n", "-f", img).CombinedOutput(); err != nil {
		t.Fatalf("fsck.ext4 -n -f of the exported point: %v\n%s", err, out)
	}
	mnt := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", "-o", "ro,loop", img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount the exported point read-only: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	return mnt
}

// The planned failover's control flow end to end: vault → configuration server → agent → process
// server → vault storage, and the reports back.
func TestFinalSyncThroughTheConfigurationServer(t *testing.T) {
	hookMarker := filepath.Join(t.TempDir(), "shutdown.marker")
	hook := filepath.Join(t.TempDir(), "shutdown.sh")
	os.WriteFile(hook, []byte("#!/bin/sh\necho \"$@\" > "+hookMarker+"\n"), 0o755)
	r := startFSRig(t, 4<<20, hook) // uploads at 4 MiB/s: points are durable before they are committed
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	svc := r.v.Svc

	// LatestReceived: a point the process server has acknowledged but not yet committed is in the
	// answer.
	big := make([]byte, 2<<20) // incompressible: its upload takes about 0.5 s, long enough to be seen pending
	rand.NewChaCha8([32]byte{3}).Read(big)
	if err := os.WriteFile(filepath.Join(r.mnt, "latest.txt"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	exec.Command("sync").Run()
	r.agent.Trigger()
	var acked uint64
	waitUntil(t, "a point durable but not committed", 30*time.Second, func() bool {
		for _, d := range r.ps.Health().Drain {
			if d.Machine == "web01" && d.DurableSeq > d.CommittedSeq {
				acked = d.DurableSeq
				return true
			}
		}
		return false
	})
	lstart := time.Now()
	latest, err := svc.LatestReceived(ctx, "lab", "web01")
	if err != nil {
		t.Fatalf("%v\n%+v", err, r.cs.Infrastructure())
	}
	t.Logf("latest received: %v (process-server heartbeats every 100ms, uploads at 4 MiB/s)", time.Since(lstart))
	pt, err := r.repo.LoadPoint(ctx, latest)
	if err != nil {
		t.Fatal(err)
	}
	if seq, _ := strconv.ParseUint(pt.Labels["osr.seq"], 10, 64); seq < acked {
		t.Fatalf("latest received is seq %d, the process server had acknowledged seq %d", seq, acked)
	}
	mnt := mountRO(t, r.export(latest))
	if got, err := os.ReadFile(filepath.Join(mnt, "latest.txt")); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("latest.txt in the latest-received point: %d bytes, %v", len(got), err)
	}
	if jobs, _ := svc.ListJobs(ctx, "", 10); len(jobs) == 0 || jobs[0].Kind != "latest-received" || jobs[0].State != "succeeded" || jobs[0].Result != latest {
		t.Fatalf("the request's job: %+v", jobs)
	}

	// FinalSync during a live workload: every file acknowledged before the call is in the point.
	n, stop := workload(t, r.mnt)
	waitUntil(t, "the workload", 10*time.Second, func() bool { return n.Load() > 30 })
	before := n.Load()
	start := time.Now()
	point, err := svc.FinalSync(ctx, "lab", "web01", false)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	stop()
	mnt = mountRO(t, r.export(point))
	for i := range before {
		if got, err := os.ReadFile(filepath.Join(mnt, fmt.Sprintf("w%06d", i))); err != nil || !bytes.Equal(got, workloadFile(i)) {
			t.Fatalf("file %d acknowledged before the final sync: %d bytes, %v", i, len(got), err)
		}
	}
	t.Logf("final sync: point %s with all %d files acknowledged before it, %v", point, before, took)
	pts, err := svc.RecoveryPoints(ctx, "lab", "web01")
	if err != nil || len(pts) == 0 || pts[0].ID != point {
		t.Fatalf("the final point is not the newest recovery point: %+v %v", pts, err)
	}
	if st := r.agent.Status(); st.State != "protected" {
		t.Fatalf("agent after a final sync without shutdown: %s", st.State)
	}

	// With shutdown: the hook ran, the agent stopped replicating.
	point2, err := svc.FinalSync(ctx, "lab", "web01", true)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(hookMarker); !bytes.HasPrefix(got, []byte("shutdown web01 ")) {
		t.Fatalf("shutdown hook marker %q", got)
	}
	if point2 == point {
		t.Fatal("the shutdown final sync returned the previous point")
	}
	waitUntil(t, "the agent to stop", 10*time.Second, func() bool { return r.agent.Status().State == "stopped" })
	// Its next final sync fails with the agent's reason.
	_, err = svc.FinalSync(ctx, "lab", "web01", false)
	if want := "final sync of web01 failed: replication has stopped after a final sync with shutdown"; err == nil || err.Error() != want {
		t.Fatalf("final sync after the shutdown: %v, want %s", err, want)
	}

	// Reports: the same outcome again is accepted, another one is refused, so is an unknown request.
	jobs, _ := svc.ListJobs(ctx, "", 10)
	var done vault.Job
	for _, j := range jobs {
		if j.Kind == vault.JobFinalSyncShutdown && j.State == vault.JobSucceeded {
			done = j
		}
	}
	css, err := svc.ListConfigServers(ctx, "lab")
	if err != nil || done.Result != point2 {
		t.Fatalf("the shutdown final sync's job %+v (%v)", done, err)
	}
	actx := vault.WithActor(ctx, vault.Actor{ConfigServer: css[0].ID, VaultID: css[0].VaultID})
	if err := svc.ConfigServerReport(actx, done.ID, vault.RequestReport{State: "succeeded", PointID: point2}); err != nil {
		t.Fatalf("repeated report: %v", err)
	}
	if err := svc.ConfigServerReport(actx, done.ID, vault.RequestReport{State: "failed", Error: "late"}); err == nil || err.Error() != "request "+done.ID+" has already ended (succeeded)" {
		t.Fatalf("another outcome of an ended request: %v", err)
	}
	if err := svc.ConfigServerReport(actx, "job-none", vault.RequestReport{State: "failed", Error: "x"}); err == nil || err.Error() != "request job-none does not exist" {
		t.Fatalf("report of an unknown request: %v", err)
	}

	// The configuration server is gone: nobody takes the request; at its bound (the vault's clock)
	// it fails and its job with it.
	r.stopCS()
	errc := make(chan error, 1)
	go func() { _, err := svc.FinalSync(ctx, "lab", "web01", false); errc <- err }()
	var running vault.Job
	waitUntil(t, "the request's job", 10*time.Second, func() bool {
		jobs, _ := svc.ListJobs(ctx, "", 1)
		if len(jobs) == 0 {
			return false
		}
		running = jobs[0]
		return running.Kind == vault.JobFinalSync && running.State == vault.JobRunning
	})
	// A second final sync of the machine meanwhile is refused.
	if _, err := svc.FinalSync(ctx, "lab", "web01", true); err == nil || err.Error() != "a final sync of web01 is already running ("+running.ID+")" {
		t.Fatalf("second final sync at once: %v", err)
	}
	r.v.Clock.Advance(vault.FinalSyncTimeout)
	if err := <-errc; err == nil || err.Error() != "final sync of web01 did not end within 15m0s" {
		t.Fatalf("final sync past its bound: %v", err)
	}
	if j, _ := svc.GetJob(ctx, running.ID); j.State != vault.JobFailed || j.Error != "final sync of web01 did not end within 15m0s" {
		t.Fatalf("job after the timeout %+v", j)
	}

	// The agent's heartbeats stop: refused at once, and no job is left running.
	r.stopAg()
	r.cclock.Advance(2 * time.Minute)
	if err := r.cs.VaultOnce(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = svc.FinalSync(ctx, "lab", "web01", false)
	if want := "the mobility agent of web01 is disconnected (no heartbeat for 2m0s)"; err == nil || err.Error() != want {
		t.Fatalf("final sync with the agent gone: %v, want %s", err, want)
	}
	if _, err := svc.FinalSync(ctx, "lab", "db01", false); err == nil || err.Error() != "machine db01 is not protected" {
		t.Fatalf("final sync of an unknown machine: %v", err)
	}
	jobs, _ = svc.ListJobs(ctx, "", 100)
	for _, j := range jobs {
		if j.State == "running" {
			t.Fatalf("job left running: %+v", j)
		}
	}
}
