package mobility

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/processserver"
	"github.com/opensiterecovery/osr/internal/storage/file"
	"github.com/opensiterecovery/osr/internal/store"
)

// realPS is the real process server in-process on 127.0.0.1 with a file:// store, and the
// agent's certificate files issued by a test CA.
type realPS struct {
	t      testing.TB
	dir    string
	repo   *store.Repo
	addr   string
	cancel context.CancelFunc
	done   chan error
	tls    TLSConfig
}

func startPS(t testing.TB, dir string) *realPS { return startPSAt(t, dir, "127.0.0.1:0") }

// startPSAt starts it listening on addr (to come back on the same port after a restart).
func startPSAt(t testing.TB, dir, addr string) *realPS { return startPSWith(t, dir, addr, nil) }

// startPSWith lets tune change the configuration and the dependencies before the server starts.
func startPSWith(t testing.TB, dir, addr string, tune func(*processserver.Config, *processserver.Deps)) *realPS {
	t.Helper()
	ps := &realPS{t: t, dir: dir}
	now := time.Now()
	caDir := filepath.Join(dir, "ca")
	ca, err := pki.LoadCA(caDir)
	if err != nil {
		if ca, err = pki.InitCA(caDir, "test CA", now); err != nil {
			t.Fatal(err)
		}
		for _, l := range []struct {
			name string
			role pki.Role
		}{{"ps1", pki.RoleProcessServer}, {"web01", pki.RoleAgent}} {
			c, k, err := ca.Issue(pki.LeafRequest{Name: l.name, Role: l.role, Hosts: []string{"127.0.0.1"}, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := pki.WriteLeaf(filepath.Join(dir, "certs"), l.name, c, k); err != nil {
				t.Fatal(err)
			}
		}
	}
	certs := filepath.Join(dir, "certs")
	ca1 := filepath.Join(caDir, pki.CACertFile)
	ps.tls = TLSConfig{CA: ca1, Cert: filepath.Join(certs, "web01.crt"), Key: filepath.Join(certs, "web01.key")}
	id, err := pki.LoadIdentity(filepath.Join(certs, "ps1.crt"), filepath.Join(certs, "ps1.key"), ca1)
	if err != nil {
		t.Fatal(err)
	}
	be, err := file.Open(filepath.Join(dir, "vault"), file.Options{CreateIfMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := store.Options{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}, PackSize: 1 << 20}
	repo, err := store.Open(context.Background(), be, []byte("secret"), opts)
	if err != nil {
		if repo, err = store.Init(context.Background(), be, []byte("secret"), opts); err != nil {
			t.Fatal(err)
		}
	}
	ps.repo = repo
	pcfg := processserver.Config{Listen: "127.0.0.1:0", Cache: processserver.CacheConfig{Dir: filepath.Join(dir, "cache"), MaxBytes: 8 << 30}}
	deps := processserver.Deps{Repo: repo, Identity: id}
	if tune != nil {
		tune(&pcfg, &deps)
	}
	srv, err := processserver.New(pcfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ { // the port of a stopped server may take a moment to be free
		if ln, err = net.Listen("tcp", addr); err == nil || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ps.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	ps.cancel, ps.done = cancel, make(chan error, 1)
	go func() { ps.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(ps.stop)
	return ps
}

func (ps *realPS) stop() {
	if ps.cancel == nil {
		return
	}
	ps.cancel()
	if err := <-ps.done; err != nil {
		ps.t.Errorf("process server: %v", err)
	}
	ps.cancel = nil
}

// config returns an agent configuration for the process server, with TLS.
func (ps *realPS) config(t *testing.T, disks ...Disk) *Config {
	cfg := testConfig(t, ps.dir, disks...)
	cfg.ProcessServer = ps.addr
	cfg.TLS = ps.tls
	return cfg
}

// points returns the machine's store points, oldest first, by seq.
func (ps *realPS) points(t *testing.T) map[uint64]*store.Point {
	pts, err := ps.repo.Points(context.Background(), "web01")
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]*store.Point{}
	for _, p := range pts {
		seq, _ := strconv.ParseUint(p.Labels["osr.seq"], 10, 64)
		out[seq] = p
	}
	return out
}

// export writes disk of point seq to a file and returns its content.
func (ps *realPS) export(t *testing.T, seq uint64, disk string) []byte {
	t.Helper()
	pt := ps.points(t)[seq]
	if pt == nil {
		t.Fatalf("no store point for seq %d", seq)
	}
	dr, err := ps.repo.OpenDisk(pt, disk)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "export.img")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := dr.Export(context.Background(), f, store.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	return b
}
