package main

import (
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillDuringPut kills 'osr store put' with SIGKILL at random moments and checks that the store
// stays clean and that every committed point still exports byte-exact.
func TestKillDuringPut(t *testing.T) {
	const trials = 24
	dir := t.TempDir()
	repo := filepath.Join(dir, "vault")
	c := newCLI(t, repo)
	c.ok("store", "init")
	img := filepath.Join(dir, "disk.img")
	writeImage(t, img, 24<<20, 11)
	want := map[string][32]byte{} // committed point → image hash
	id := lastLine(c.ok("store", "put", "--machine", "db01", "--disk", "sda="+img))
	want[id] = fileSHA(t, img)
	// How long an incremental put takes, to spread the kills over it.
	mutate(t, img, 300, 100)
	start := time.Now()
	id = lastLine(c.ok("store", "put", "--machine", "db01", "--disk", "sda="+img))
	want[id] = fileSHA(t, img)
	span := time.Since(start)
	rng := rand.New(rand.NewPCG(42, 42))
	killed := 0
	for trial := 0; trial < trials; trial++ {
		mutate(t, img, 50+rng.IntN(2000), uint64(1000+trial))
		sum := fileSHA(t, img)
		cmd := exec.Command(osrBin, "store", "put", "--machine", "db01", "--disk", "sda="+img)
		cmd.Env = c.env
		var out strings.Builder
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The kill window adapts so that kills land both before and around the commit.
		delay := time.Duration(rng.Int64N(int64(span)))
		time.Sleep(delay)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		if err := cmd.Wait(); err != nil {
			killed++
			span = span * 11 / 10
		} else {
			span = span * 7 / 10
		}
		// Whatever points exist now, each must be one we know or the one this trial was writing.
		for pid := range pointIDs(t, c) {
			if _, ok := want[pid]; !ok {
				want[pid] = sum // committed just before the kill
			}
		}
		res, _, code := c.run("store", "check", "--read-data")
		if code != 0 || !strings.Contains(res, "no problems found") {
			t.Fatalf("trial %d (kill after %v): check failed:\n%s", trial, delay, res)
		}
	}
	if killed < trials/4 {
		t.Fatalf("only %d of %d puts were killed before finishing: the kills came too late", killed, trials)
	}
	for pid, sum := range want {
		out := filepath.Join(dir, "out.raw")
		c.ok("store", "export", "--point", pid, "--machine", "db01", "--disk", "sda", "--out", out)
		if got := fileSHA(t, out); got != sum {
			t.Fatalf("point %s exports with sha %x, want %x", pid[:12], got, sum)
		}
	}
	// A prune after the crashes removes the leftovers and keeps every point.
	c.ok("store", "prune", "--retention", "8760h")
	res := c.ok("store", "check", "--read-data")
	if strings.Contains(res, "note:") || !strings.Contains(res, "no problems found") {
		t.Fatalf("after prune: %s", res)
	}
	t.Logf("%d trials, %d killed before commit, %d points verified", trials, killed, len(want))

	// Now kill prunes that forget all but the newest point, at random moments.
	start = time.Now()
	c.ok("store", "prune", "--retention", "8760h", "--dry-run")
	pspan := max(time.Since(start), 50*time.Millisecond)
	for trial := 0; trial < 8; trial++ {
		mutate(t, img, 500, uint64(5000+trial))
		id := lastLine(c.ok("store", "put", "--machine", "db01", "--disk", "sda="+img))
		want[id] = fileSHA(t, img)
		cmd := exec.Command(osrBin, "store", "prune", "--keep-all", "1ns", "--interval", "1h", "--retention", "1ns")
		cmd.Env = c.env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(pspan) * 3)))
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		res, _, code := c.run("store", "check", "--read-data")
		if code != 0 || !strings.Contains(res, "no problems found") {
			t.Fatalf("prune trial %d: check failed:\n%s", trial, res)
		}
		ids := pointIDs(t, c)
		if !ids[id] {
			t.Fatalf("prune trial %d: the newest point %s is gone", trial, id[:12])
		}
		for pid := range ids {
			out := filepath.Join(dir, "out.raw")
			c.ok("store", "export", "--point", pid, "--machine", "db01", "--disk", "sda", "--out", out)
			if got := fileSHA(t, out); got != want[pid] {
				t.Fatalf("prune trial %d: point %s exports with sha %x, want %x", trial, pid[:12], got, want[pid])
			}
		}
	}
}

// pointIDs lists the store's point IDs.
func pointIDs(t *testing.T, c *cli) map[string]bool {
	t.Helper()
	var pts []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(c.ok("store", "ls", "--json")), &pts); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, p := range pts {
		ids[p.ID] = true
	}
	return ids
}
