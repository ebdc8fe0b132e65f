package main

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
		delay := time.Duration(rng.Int64N(int64(span) * 8 / 10))
		time.Sleep(delay)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if err != nil {
			killed++
		}
		// Whatever points exist now, each must be one we know or the one this trial was writing.
		pts := c.ok("store", "ls", "--machine", "db01", "--json")
		for _, line := range strings.Split(pts, "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, `"id": "`) {
				continue
			}
			pid := strings.TrimSuffix(strings.TrimPrefix(line, `"id": "`), `",`)
			if _, ok := want[pid]; !ok {
				want[pid] = sum // committed just before the kill
			}
		}
		res, _, code := c.run("store", "check", "--read-data")
		if code != 0 || !strings.Contains(res, "no problems found") {
			t.Fatalf("trial %d (kill after %v): check failed:\n%s", trial, delay, res)
		}
	}
	if killed < trials/2 {
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
	_ = fmt.Sprint
	_ = os.Getpid
}
