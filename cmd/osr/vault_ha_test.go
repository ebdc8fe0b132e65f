package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/apiclient"
	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/db/pgtest"
)

// replica is one `osr vault serve` process of a highly available vault.
type replica struct {
	dir, addr string
	cmd       *exec.Cmd
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startReplica runs `osr vault serve` on addr with the given URLs (its own first) and waits until
// it answers /health.
func startReplica(t *testing.T, dsn, masterKey, addr string, urls ...string) *replica {
	t.Helper()
	r := &replica{dir: t.TempDir(), addr: addr}
	args := []string{"vault", "serve", "--data-dir", r.dir, "--listen", addr, "--db", dsn, "--master-key-file", masterKey}
	for _, u := range urls {
		args = append(args, "--url", u)
	}
	r.cmd = exec.Command(osrBin, args...)
	logf, _ := os.Create(filepath.Join(r.dir, "serve.log"))
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.cmd.Process.Signal(syscall.SIGTERM)
		r.cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(r.dir, apiclient.CAFileName)); err == nil {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return r
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(r.dir, "serve.log"))
			t.Fatalf("vault replica on %s did not start: %s", addr, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// leader asks a replica whether it runs the background work.
func leader(c *apiclient.Client, ctx context.Context) (bool, error) {
	var h struct {
		Leader bool `json:"leader"`
	}
	err := c.Do(ctx, "GET", "/health", nil, &h)
	return h.Leader, err
}

func waitLeader(t *testing.T, c *apiclient.Client, want bool, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got, err := leader(c, t.Context())
		if err == nil && got == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("leader = %v (err %v) after %s, want %v", got, err, within, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestVaultHA: two replicas of one vault on one PostgreSQL database. Exactly one runs the
// background work; a client given both URLs keeps working while the replica it used is killed
// with SIGKILL, and the other replica takes the background work over.
func TestVaultHA(t *testing.T) {
	srv, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	dsn, err := srv.NewDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	mk := filepath.Join(t.TempDir(), "master.key")
	addrA, addrB := freeAddr(t), freeAddr(t)
	urlA, urlB := "https://"+addrA, "https://"+addrB
	a := startReplica(t, dsn, mk, addrA, urlA, urlB)
	only := func(dir, server string) *apiclient.Client {
		t.Helper()
		c, err := apiclient.New(&apiclient.Resolved{Server: server, Token: readToken(t, a.dir), CAFile: filepath.Join(dir, apiclient.CAFileName)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cA := only(a.dir, urlA)
	waitLeader(t, cA, true, 15*time.Second)
	b := startReplica(t, dsn, mk, addrB, urlB, urlA)
	cB := only(b.dir, urlB)
	if l, err := leader(cB, t.Context()); err != nil || l {
		t.Fatalf("second replica: leader = %v, %v; want a follower", l, err)
	}
	// The data directory's vault.url lists both replicas, its own first.
	res, err := apiclient.Options{DataDir: a.dir, Getenv: func(string) string { return "" }}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Servers(); len(got) != 2 || got[0] != urlA || got[1] != urlB {
		t.Fatalf("servers from %s: %v", apiclient.ServerFileName, got)
	}
	both, err := apiclient.New(res)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := both.CreateVault(ctx, vault.CreateVaultRequest{Name: "lab", StorageURL: "file://" + filepath.Join(t.TempDir(), "store")}); err != nil {
		t.Fatal(err)
	}

	// Load: readers and writers through the two-URL client while replica A dies.
	var reads, writes, readFails, writeFails atomic.Int64
	var mu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				var err error
				if w%2 == 0 {
					_, err = both.ListVaults(rctx)
					reads.Add(1)
					if err != nil {
						readFails.Add(1)
					}
				} else {
					_, err = both.CreatePolicy(rctx, "lab", vault.CreatePolicyRequest{Name: fmt.Sprintf("p%d-%d", w, i)})
					writes.Add(1)
					if err != nil {
						writeFails.Add(1)
					}
				}
				cancel()
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(time.Second)
	a.cmd.Process.Kill() // SIGKILL: no shutdown, PostgreSQL sees the connections drop
	a.cmd.Wait()
	took := waitLeader(t, cB, true, 20*time.Second)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("replica killed: %d reads (%d failed), %d writes (%d failed); the other replica led %.1fs after the kill (checks every 5 s)",
		reads.Load(), readFails.Load(), writes.Load(), writeFails.Load(), took.Seconds())
	t.Logf("failed requests: %q", failures)
	if readFails.Load() != 0 {
		t.Fatalf("reads failed during the loss of a replica: %v", failures)
	}
	// A POST whose connection broke after it was sent is not retried (it may have been applied):
	// at most one per writer.
	if writeFails.Load() > 2 {
		t.Fatalf("%d writes failed during the loss of a replica: %v", writeFails.Load(), failures)
	}
	// Every write that succeeded is there, through the surviving replica.
	pols, err := both.ListPolicies(ctx, "lab")
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(pols)) < writes.Load()-writeFails.Load() {
		t.Fatalf("%d policies listed, %d writes succeeded", len(pols), writes.Load()-writeFails.Load())
	}
}

func readToken(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, apiclient.TokenFileName))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
