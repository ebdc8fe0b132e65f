//go:build linux

package vault_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver"
)

// latestBound is how long after the request (nothing pending) or after the commit (a point
// pending) LatestReceived may answer: the configuration server asks the process server for a
// heartbeat instead of waiting for its periodic ones.
const latestBound = 2500 * time.Millisecond

// LatestReceived at the default 30 s process-server heartbeat: it answers within latestBound
// when nothing is pending, and within latestBound of the commit when a point is pending, with a
// point that holds everything acknowledged before the request.
func TestLatestReceivedDefaultHeartbeat(t *testing.T) {
	r := startFSRigWith(t, fsRigOptions{UploadLimit: 1 << 20, PSInterval: configserver.HeartbeatInterval})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	svc := r.v.Svc
	drain := func() (durable, committed uint64) {
		for _, d := range r.ps.Health().Drain {
			if d.Machine == "web01" {
				return d.DurableSeq, d.CommittedSeq
			}
		}
		return 0, 0
	}

	// Nothing pending.
	waitUntil(t, "everything acknowledged committed", 30*time.Second, func() bool { d, c := drain(); return d == c })
	start := time.Now()
	latest, err := svc.LatestReceived(ctx, "lab", "web01")
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("latest received, nothing pending: %v (process-server heartbeats every %v)", took, configserver.HeartbeatInterval)
	if took > latestBound {
		t.Fatalf("latest received with nothing pending took %v, want at most %v", took, latestBound)
	}
	if pts, err := svc.RecoveryPoints(ctx, "lab", "web01"); err != nil || len(pts) == 0 || pts[0].ID != latest {
		t.Fatalf("latest received %s is not the newest recovery point: %+v %v", latest, pts, err)
	}

	// A point acknowledged, not yet committed (uploads at 1 MiB/s: the commit takes seconds, the request asks again while it waits).
	big := make([]byte, 2<<20) // incompressible: its upload takes about 2 s
	rand.NewChaCha8([32]byte{1}).Read(big)
	if err := os.WriteFile(filepath.Join(r.mnt, "pending.txt"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	exec.Command("sync").Run()
	r.agent.Trigger()
	var acked uint64
	waitUntil(t, "a point durable but not committed", 30*time.Second, func() bool {
		d, c := drain()
		acked = d
		return d > c
	})
	var committedAt time.Time
	watch := make(chan struct{})
	go func() {
		defer close(watch)
		for ctx.Err() == nil {
			if _, c := drain(); c >= acked {
				committedAt = time.Now()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	start = time.Now()
	latest, err = svc.LatestReceived(ctx, "lab", "web01")
	answered := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	<-watch
	t.Logf("latest received, a point pending: %v (committed %v after the request)", answered.Sub(start), committedAt.Sub(start))
	if after := answered.Sub(committedAt); after > latestBound {
		t.Fatalf("latest received answered %v after the commit, want at most %v", after, latestBound)
	}
	pt, err := r.repo.LoadPoint(ctx, latest)
	if err != nil {
		t.Fatal(err)
	}
	if seq, _ := strconv.ParseUint(pt.Labels["osr.seq"], 10, 64); seq < acked {
		t.Fatalf("latest received is seq %d, the process server had acknowledged seq %d", seq, acked)
	}
	mnt := mountRO(t, r.export(latest))
	if got, err := os.ReadFile(filepath.Join(mnt, "pending.txt")); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("pending.txt in the latest-received point: %d bytes, %v", len(got), err)
	}
}

// A process server that does not answer health asks (an older osr) is still served: by the
// second heartbeat after the request, with everything acknowledged before it.
func TestLatestReceivedOldProcessServer(t *testing.T) {
	r := startFSRigWith(t, fsRigOptions{UploadLimit: 1 << 20, PSInterval: 300 * time.Millisecond, PSIgnoresAsks: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	big := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{2}).Read(big)
	if err := os.WriteFile(filepath.Join(r.mnt, "old.txt"), big, 0o644); err != nil {
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
	start := time.Now()
	latest, err := r.v.Svc.LatestReceived(ctx, "lab", "web01")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("latest received from a process server that ignores asks: %v (heartbeats every 300ms)", time.Since(start))
	pt, err := r.repo.LoadPoint(ctx, latest)
	if err != nil {
		t.Fatal(err)
	}
	if seq, _ := strconv.ParseUint(pt.Labels["osr.seq"], 10, 64); seq < acked {
		t.Fatalf("latest received is seq %d, the process server had acknowledged seq %d", seq, acked)
	}
	mnt := mountRO(t, r.export(latest))
	if got, err := os.ReadFile(filepath.Join(mnt, "old.txt")); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("old.txt in the latest-received point: %d bytes, %v", len(got), err)
	}
}
