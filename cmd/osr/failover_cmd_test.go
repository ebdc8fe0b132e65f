package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/failover"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/db/pgtest"
)

// foCLI is a vault service with the failover endpoints (wired by withFailover, as the vault
// commands do) and the failover commands run in-process against it.
type foCLI struct {
	cliHarness
	dir  string
	vs   *vault.Service
	repo *store.Repo
	imgs map[string][]byte // the newest point's disks
	pt   *store.Point
}

func newFoCLI(t *testing.T, dsn string) *foCLI {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &app{stdout: io.Discard, stderr: io.Discard, getenv: os.Getenv, clock: clock.Real{}, logger: slog.New(slog.DiscardHandler)}
	cfg := testVaultConfig(dir, dsn, ln)
	bind := a.withFailover(&cfg)
	vs, ctx := serveTestVault(t, dir, ln, cfg, func(vs *vault.Service) (func(), error) {
		fs, err := bind(vs)
		if err != nil {
			return nil, err
		}
		return func() { fs.Close() }, nil
	})
	c := &foCLI{dir: dir, vs: vs, cliHarness: cliHarness{t: t, env: map[string]string{"OSR_DATA_DIR": dir},
		add: func(a *app, root *cobra.Command) { root.AddCommand(a.failoverCommands()...) }}}
	c.setup(ctx)
	return c
}

// setup: vault lab, machine web01 protected with one point (NIC on prod-net).
func (c *foCLI) setup(ctx context.Context) {
	t, vs := c.t, c.vs
	cs := labWithCS(t, ctx, vs, c.dir)
	if err := vs.ConfigServerInventory(cs, vault.Inventory{Machines: []vault.Machine{{Name: "web01", OS: "linux", Source: "agent",
		Disks: []vault.MachineDisk{{Name: "sda", SizeBytes: 2 << 20}}, Hardware: &vault.Hardware{NICs: []vault.NIC{{Name: "eth0", Network: "prod-net", Addresses: []string{"10.0.0.21/24"}}}}}}}); err != nil {
		t.Fatal(err)
	}
	goldPolicy(t, ctx, vs)
	if _, err := vs.EnableReplication(ctx, "lab", vault.EnableRequest{Machine: "web01", Policy: "gold"}); err != nil {
		t.Fatal(err)
	}
	var err error
	if _, c.repo, err = vs.VaultRepo(ctx, "lab"); err != nil {
		t.Fatal(err)
	}
	img := make([]byte, 2<<20)
	for i := 0; i < 300<<10; i++ {
		img[i] = byte(i*31 + i>>9)
	}
	copy(img[1<<20:], "osr failover cli test")
	w, err := c.repo.NewWriter(ctx, "web01", nil, []store.DiskSpec{{Name: "sda", Size: int64(len(img))}})
	if err != nil {
		t.Fatal(err)
	}
	w.Disk("sda").WriteAt(img, 0)
	if c.pt, err = w.Commit(ctx, store.CommitMeta{Time: time.Now().Add(-time.Minute), Consistency: store.CrashConsistent}); err != nil {
		t.Fatal(err)
	}
	c.imgs = map[string][]byte{"sda": img}
	lpt := c.pt.Time
	if _, err := vs.ConfigServerHeartbeat(cs, vault.Heartbeat{Time: time.Now(), Items: []vault.ItemReport{{Machine: "web01", State: vault.StateProtected, InitialPercent: 100, LastPointTime: &lpt, LastPointID: c.pt.ID}}}); err != nil {
		t.Fatal(err)
	}
}

// TestFailoverCLI drives target, network-mapping, failover and migration commands on SQLite and
// PostgreSQL, and checks the failed-over disk with qemu-img compare.
func TestFailoverCLI(t *testing.T) {
	srv, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	pgdsn, err := srv.NewDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, eng := range []struct{ name, dsn string }{{"sqlite", ""}, {"postgres", pgdsn}} {
		t.Run(eng.name, func(t *testing.T) {
			c := newFoCLI(t, eng.dsn)
			out := filepath.Join(c.dir, "out")
			if got := c.ok("target", "add", "--name", "local1", "--provider", "local", "--dir", out, "--format", "vhd"); got != "target local1 (local) added\n" {
				t.Fatalf("target add: %q", got)
			}
			c.fails(`target t2: local target: dir "rel" is not an absolute path`, "target", "add", "--name", "t2", "--provider", "local", "--dir", "rel")
			// An azure target: its key is sealed in the database, never shown.
			key := "c2VjcmV0LWtleS1vZi10aGUtYWNjb3VudA=="
			if got := c.ok("target", "add", "--name", "az", "--provider", "azure", "--container-url", "http://127.0.0.1:10000/devstoreaccount1/failover",
				"--account", "devstoreaccount1", "--key-secret", key); got != "target az (azure) added\n" {
				t.Fatalf("azure target add: %q", got)
			}
			if got := c.ok("target", "list"); !strings.Contains(got, "account=devstoreaccount1 container_url=http://127.0.0.1:10000/devstoreaccount1/failover  sealed") || strings.Contains(got, key) {
				t.Fatalf("target list:\n%s", got)
			}
			var sealed string
			if err := c.vs.DB().QueryRow(context.Background(), `SELECT secret FROM failover_targets WHERE name = ?`, "az").Scan(&sealed); err != nil || sealed == "" || strings.Contains(sealed, key) {
				t.Fatalf("sealed secret %q (%v)", sealed, err)
			}
			c.ok("target", "remove", "az")
			if got := c.ok("target", "list"); !strings.Contains(got, "local1  local     dir="+out+" format=vhd  -") {
				t.Fatalf("target list:\n%s", got)
			}
			c.fails(`network prod-net of nic eth0 of machine web01 is not mapped: add a network mapping for it (osr network-mapping add --source-network "prod-net" ...)`,
				"failover", "test", "web01")
			if got := c.ok("network-mapping", "add", "--source-network", "prod-net", "--target-network", "dr-net", "--test-network", "test-net"); got != "network prod-net maps to dr-net (test: test-net), addresses keep\n" {
				t.Fatalf("mapping add: %q", got)
			}
			c.fails("machine web01 has no recovery point 0badc0de00", "failover", "run", "web01", "--point", "0badc0de00")

			got := c.ok("failover", "test", "web01")
			if !strings.HasPrefix(got, "test failover of web01 at point "+c.pt.ID[:12]) {
				t.Fatalf("failover test: %q", got)
			}
			var st failover.Status
			if err := json.Unmarshal([]byte(c.ok("failover", "status", "web01", "--json")), &st); err != nil {
				t.Fatal(err)
			}
			if st.Test == nil || st.Test.Result == nil || st.ItemState != vault.StateProtected {
				t.Fatalf("status %+v", st)
			}
			src := filepath.Join(c.dir, "sda.raw")
			os.WriteFile(src, c.imgs["sda"], 0o644)
			qemuCompareVHD(t, src, st.Test.Result.Disks[0])
			if got := c.ok("failover", "cleanup", "web01"); got != "test failover of web01 removed from target local1\n" {
				t.Fatalf("cleanup: %q", got)
			}
			if got := c.ok("failover", "run", "web01", "--point", c.pt.ID[:8]); !strings.HasPrefix(got, "failover of web01 at point "+c.pt.ID[:12]) {
				t.Fatalf("failover run: %q", got)
			}
			c.fails("machine web01 is failed-over: a failover needs a machine that is replicating", "failover", "run", "web01")
			if got := c.ok("failover", "commit", "web01"); got != "failover of web01 at point "+c.pt.ID[:12]+" committed\n" {
				t.Fatalf("commit: %q", got)
			}
			if got := c.ok("migration", "complete", "web01"); got != "failover of web01 at point "+c.pt.ID[:12]+" migration-completed\n" {
				t.Fatalf("migration complete: %q", got)
			}
			if got := c.ok("failover", "list"); !strings.Contains(got, "web01    failover  migration-completed  "+c.pt.ID[:12]) {
				t.Fatalf("failover list:\n%s", got)
			}
			if got := c.ok("network-mapping", "remove", "prod-net"); got != "mapping of network prod-net removed\n" {
				t.Fatalf("mapping remove: %q", got)
			}
		})
	}
}

func qemuCompareVHD(t *testing.T, raw, vhd string) {
	t.Helper()
	opts := "driver=vpc,force_size_calc=current_size,file.filename=" + vhd
	out, err := exec.Command("qemu-img", "compare", "--image-opts", opts, "driver=raw,file.filename="+raw).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img compare (install qemu-utils): %v %s", err, out)
	}
	info, err := exec.Command("qemu-img", "info", "--output=json", "--image-opts", opts).Output()
	if err != nil {
		t.Fatalf("qemu-img info: %v", err)
	}
	var qi struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(info, &qi); err != nil || qi.VirtualSize != 2<<20 {
		t.Fatalf("qemu-img info: virtual size %d (%v), want %d", qi.VirtualSize, err, 2<<20)
	}
}
