package failover

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/storage/backends"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/db"
	"github.com/opensiterecovery/osr/internal/vault/db/pgtest"
)

var pg *pgtest.Server

func TestMain(m *testing.M) {
	for _, a := range os.Args {
		if strings.HasPrefix(a, "-test.fuzzworker") { // fuzz workers run fuzz targets only
			os.Exit(m.Run())
		}
	}
	var err error
	pg, err = pgtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start postgresql:", err)
		os.Exit(1)
	}
	code := m.Run()
	pg.Stop()
	removeBootDisk()
	os.Exit(code)
}

var cheapKDF = crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}

type env struct {
	t      testing.TB
	eng    db.Engine
	vs     *vault.Service
	fs     *Service
	api    *API
	clk    *clock.Fake
	base   string
	client *http.Client
	tokens map[vault.Role]string
	dir    string
	out    string // the local target's directory
	gate   *gate
	source *fakeSource

	vaultID string
	repo    *store.Repo
	images  map[string]map[string][]byte // point ID → disk → content
	last    map[string]*store.Point      // machine → newest point
	stop    func()
	dsn     string
	csCtx   context.Context
	psRepo  *store.Repo // the store as a process server opens it (another Repo: its own index)
	opts    []envOption
}

// envOption changes the failover service's configuration and dependencies of an env.
type envOption func(*Config, *Deps)

const (
	diskA = 3 << 20
	diskB = 1 << 20
)

// newEnv starts a vault service with the failover routes on eng, a vault "lab" with a file://
// store, a configuration server whose inventory has web01 (protected, three points: crash,
// app, crash, and a partial one) and db02 (not protected), a local target "local1" and a
// mapping of web01's network prod-net.
func newEnv(t testing.TB, eng db.Engine, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, eng: eng, dir: t.TempDir(), tokens: map[vault.Role]string{}, gate: newGate(), images: map[string]map[string][]byte{}, last: map[string]*store.Point{}, opts: opts}
	e.out = filepath.Join(e.dir, "out")
	e.dsn = filepath.Join(e.dir, "vault.db")
	if eng == db.Postgres {
		var err error
		if e.dsn, err = pg.NewDatabase(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	e.clk = clock.NewFake(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	e.source = &fakeSource{e: e}
	e.start()
	t.Cleanup(func() { e.stop() })
	e.setup()
	return e
}

// start opens the vault and failover services on the env's database and serves them.
func (e *env) start() {
	t := e.t
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.api = &API{}
	vs, err := vault.New(vault.Config{
		DB: e.dsn, MasterKeyFile: filepath.Join(e.dir, "master.key"),
		URLs: []string{"https://" + ln.Addr().String()}, Hosts: []string{"127.0.0.1"},
		StoreOptions: store.Options{KDF: cheapKDF}, ExtraRoutes: e.api.Routes(),
	}, vault.Deps{Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	fcfg, fdeps := Config{Vault: vs, Providers: testProviders(e.gate), Source: e.source, Lease: 2 * time.Second}, Deps{Clock: e.clk}
	for _, o := range e.opts {
		o(&fcfg, &fdeps)
	}
	fs, err := New(fcfg, fdeps)
	if err != nil {
		t.Fatal(err)
	}
	e.api.Bind(fs)
	e.vs, e.fs = vs, fs
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { vs.Serve(ctx, ln); close(done) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			e.gate.open()
			fs.Close()
			cancel()
			<-done
			vs.Close()
		})
	}
	e.base = "https://" + ln.Addr().String() + vault.APIPrefix
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(vs.RootCAPEM())
	e.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
}

func (e *env) setup() {
	t, ctx := e.t, context.Background()
	admin, err := e.vs.Bootstrap(ctx)
	if err != nil || admin == "" {
		t.Fatalf("bootstrap: %q %v", admin, err)
	}
	e.tokens[vault.RoleOwner] = admin
	for _, r := range []vault.Role{vault.RoleContributor, vault.RoleOperator, vault.RoleReader} {
		name := string(r) + "1"
		e.mustDo("POST", "/users", admin, map[string]any{"name": name, "role": string(r)}, 201)
		var tok vault.Token
		e.decode(e.mustDo("POST", "/tokens", admin, map[string]any{"user": name, "name": "test"}, 201), &tok)
		e.tokens[r] = tok.Secret
	}
	u := (&url.URL{Scheme: "file", Path: filepath.Join(e.dir, "storage")}).String()
	var v vault.Vault
	e.decode(e.mustDo("POST", "/vaults", admin, vault.CreateVaultRequest{Name: "lab", StorageURL: u}, 201), &v)
	e.vaultID = v.ID
	rk, err := e.vs.CreateRegistrationKey(ctx, "lab")
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cs"}}, k)
	reg, err := e.vs.Register(ctx, vault.RegisterRequest{RegistrationKey: rk.Key, Name: "cs1", Hostname: "cs1.lab",
		CSRPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), ClientTime: e.clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	csCtx := vault.WithActor(ctx, vault.Actor{ConfigServer: reg.ConfigServerID, VaultID: v.ID})
	e.csCtx = csCtx
	inv := vault.Inventory{Machines: testMachines()}
	if err := e.vs.ConfigServerInventory(csCtx, inv); err != nil {
		t.Fatal(err)
	}
	e.mustDo("POST", "/vaults/lab/policies", admin, vault.CreatePolicyRequest{Name: "gold"}, 201)
	e.mustDo("POST", "/vaults/lab/policies/gold/associations", admin, vault.AssociateRequest{ConfigServer: "cs1"}, 200)
	e.mustDo("POST", "/vaults/lab/protected-items", admin, vault.EnableRequest{Machine: "web01", Policy: "gold"}, 201)
	e.mustDo("POST", "/vaults/lab/protected-items", admin, vault.EnableRequest{Machine: "app03", Policy: "gold"}, 201)
	if _, e.repo, err = e.vs.VaultRepo(ctx, "lab"); err != nil {
		t.Fatal(err)
	}
	now := e.clk.Now()
	e.commitPoint("web01", store.CrashConsistent, now.Add(-3*time.Hour), "first")
	e.commitPoint("web01", store.AppConsistent, now.Add(-2*time.Hour), "second")
	p3 := e.commitPoint("web01", store.CrashConsistent, now.Add(-1*time.Hour), "third")
	e.commitPartial("web01", now.Add(-30*time.Minute))
	lpt := now.Add(-time.Hour)
	if _, err := e.vs.ConfigServerHeartbeat(csCtx, vault.Heartbeat{Time: now, Items: []vault.ItemReport{
		{Machine: "web01", State: vault.StateProtected, InitialPercent: 100, LastPointTime: &lpt, LastPointID: p3},
		{Machine: "app03", State: vault.StateInitialReplication, InitialPercent: 40},
	}}); err != nil {
		t.Fatal(err)
	}
	ds, err := e.vs.ConfigServerDesiredState(csCtx)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := base64.StdEncoding.DecodeString(ds.Storage.Password)
	be, err := backends.Open(ctx, ds.Storage.URL, backends.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e.psRepo, err = store.Open(ctx, be, pw, store.Options{KDF: cheapKDF}); err != nil {
		t.Fatal(err)
	}
	e.mustDo("POST", "/vaults/lab/targets", admin, AddTargetRequest{Name: "local1", Provider: "local", Settings: map[string]string{"dir": e.out}}, 201)
	e.mustDo("POST", "/vaults/lab/network-mappings", admin, AddMappingRequest{SourceNetwork: "prod-net", TargetNetwork: "dr-net", TestNetwork: "test-net"}, 201)
}

// testMachines is the configuration server's inventory of newEnv.
func testMachines() []vault.Machine {
	return []vault.Machine{
		{Name: "web01", Hostname: "web01.lab", OS: "linux", Addresses: []string{"10.0.0.21"}, Source: "agent",
			Disks:    []vault.MachineDisk{{Name: "sdb", SizeBytes: diskB}, {Name: "sda", SizeBytes: diskA}},
			Hardware: &vault.Hardware{CPUs: 4, MemoryMB: 8192, NICs: []vault.NIC{{Name: "eth0", MAC: "52:54:00:12:34:56", Network: "prod-net", Addresses: []string{"10.0.0.21/24"}, Gateway: "10.0.0.1"}}}},
		{Name: "db02", Hostname: "db02.lab", OS: "linux", Source: "agent", Disks: []vault.MachineDisk{{Name: "sda", SizeBytes: diskB}}},
		{Name: "app03", Hostname: "app03.lab", OS: "windows", Addresses: []string{"10.0.0.23"}, Source: "agent", Disks: []vault.MachineDisk{{Name: "disk0", SizeBytes: diskB}}},
	}
}

// commitPoint writes a new point of machine: the previous content with a region changed (text
// naming what), and returns its ID; the disks' content is kept for comparisons.
func (e *env) commitPoint(machine string, c store.Consistency, at time.Time, what string) string {
	return e.commit(machine, store.CommitMeta{Time: at, Consistency: c}, what)
}

func (e *env) commitPartial(machine string, at time.Time) string {
	return e.commit(machine, store.CommitMeta{Time: at, Partial: true}, "partial")
}

var commitMu sync.Mutex

func (e *env) commit(machine string, meta store.CommitMeta, what string) string {
	return e.commitTo(e.repo, machine, meta, what)
}

func (e *env) commitTo(repo *store.Repo, machine string, meta store.CommitMeta, what string) string {
	commitMu.Lock()
	defer commitMu.Unlock()
	t, ctx := e.t, context.Background()
	parent := e.last[machine]
	imgs := map[string][]byte{}
	if parent != nil {
		for k, v := range e.images[parent.ID] {
			imgs[k] = bytes.Clone(v)
		}
	} else {
		rng := mrand.New(mrand.NewPCG(uint64(len(machine)), 7))
		imgs["sda"], imgs["sdb"] = make([]byte, diskA), make([]byte, diskB)
		for _, r := range [][2]int{{0, 64 << 10}, {1 << 20, 200 << 10}, {diskA - 8192, 8192}} {
			for i := r[0]; i < r[0]+r[1]; i++ {
				imgs["sda"][i] = byte(rng.Uint32())
			}
		}
		for i := 4096; i < 300<<10; i++ {
			imgs["sdb"][i] = byte(i * 7)
		}
	}
	off := (len(e.images)*131072 + 65536) % (diskA - 4096)
	copy(imgs["sda"][off:], fmt.Sprintf("point %d of %s: %s", len(e.images), machine, what))
	w, err := repo.NewWriter(ctx, machine, parent, []store.DiskSpec{{Name: "sda", Size: diskA}, {Name: "sdb", Size: diskB}})
	if err != nil {
		t.Fatal(err)
	}
	for name, img := range imgs {
		if _, err := w.Disk(name).WriteAt(img, 0); err != nil {
			t.Fatal(err)
		}
	}
	p, err := w.Commit(ctx, meta)
	if err != nil {
		t.Fatal(err)
	}
	e.images[p.ID] = imgs
	if !meta.Partial {
		e.last[machine] = p
	}
	return p.ID
}

func (e *env) do(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *env) mustDo(method, path, token string, body any, want int) []byte {
	e.t.Helper()
	st, b := e.do(method, path, token, body)
	if st != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, st, want, b)
	}
	return b
}

func (e *env) decode(b []byte, v any) {
	e.t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		e.t.Fatalf("decode %s: %v", b, err)
	}
}

func (e *env) expectError(method, path, token string, body any, status int, msg string) {
	e.t.Helper()
	st, b := e.do(method, path, token, body)
	var eb struct {
		Error string `json:"error"`
	}
	json.Unmarshal(b, &eb)
	if st != status || eb.Error != msg {
		e.t.Fatalf("%s %s: got %d %s\nwant %d %q", method, path, st, b, status, msg)
	}
}

func (e *env) op() string { return e.tokens[vault.RoleOperator] }

// start an operation and return it.
func (e *env) startOp(path string, body any) Operation {
	e.t.Helper()
	var op Operation
	e.decode(e.mustDo("POST", "/vaults/lab/protected-items/"+path, e.op(), body, 202), &op)
	return op
}

// waitJob waits for a job to end and returns it.
func (e *env) waitJob(id string) vault.Job {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var j vault.Job
		e.decode(e.mustDo("GET", "/jobs/"+id, e.tokens[vault.RoleReader], nil, 200), &j)
		if j.State != vault.JobRunning {
			return j
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s still running: %+v", id, j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) status(machine string) Status {
	e.t.Helper()
	var st Status
	e.decode(e.mustDo("GET", "/vaults/lab/protected-items/"+machine+"/failover", e.tokens[vault.RoleReader], nil, 200), &st)
	return st
}

// snapshot is every row of the tables a failover request may change, for "nothing changed".
func (e *env) snapshot() string {
	e.t.Helper()
	var sb strings.Builder
	for _, tbl := range []string{"failovers", "failover_locks", "failover_targets", "failover_nics", "network_mappings", "protected_items", "jobs", "events", "audit", "vaults"} {
		rows, err := e.vs.DB().Query(context.Background(), `SELECT * FROM `+tbl+` ORDER BY 1, 2`)
		if err != nil {
			e.t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				e.t.Fatal(err)
			}
			fmt.Fprintf(&sb, "%s %v\n", tbl, vals)
		}
		rows.Close()
	}
	return sb.String()
}

// checkDisks compares the target's disks with the source's content at point id: byte for byte
// and with qemu-img compare (raw images exported from the point).
func (e *env) checkDisks(res *target.Result, def *target.Definition, id string) {
	e.t.Helper()
	if res == nil || def == nil {
		e.t.Fatalf("no result or definition for point %s", id)
	}
	if len(res.Disks) != len(def.Disks) {
		e.t.Fatalf("result has %d disks, definition %d", len(res.Disks), len(def.Disks))
	}
	// The provider's own definition file says the formats; it must agree with the record's.
	b, err := os.ReadFile(res.DefinitionFile)
	if err != nil {
		e.t.Fatal(err)
	}
	var written target.Definition
	if err := json.Unmarshal(b, &written); err != nil {
		e.t.Fatal(err)
	}
	if written.PointID != id || written.Name != def.Name || len(written.Disks) != len(def.Disks) || len(written.NICs) != len(def.NICs) {
		e.t.Fatalf("definition file %+v, record %+v", written, def)
	}
	for i, dd := range written.Disks {
		if dd.Name != def.Disks[i].Name || dd.SizeBytes != def.Disks[i].SizeBytes {
			e.t.Fatalf("definition file disk %d %+v, record %+v", i, dd, def.Disks[i])
		}
		want := e.images[id][dd.Name]
		got, err := os.ReadFile(res.Disks[i])
		if err != nil {
			e.t.Fatal(err)
		}
		if dd.Format == "raw" && !bytes.Equal(got, want) {
			e.t.Fatalf("disk %s of point %s differs from the source", dd.Name, short(id))
		}
		src := filepath.Join(e.dir, "src-"+short(id)+"-"+dd.Name+".raw")
		if err := os.WriteFile(src, want, 0o644); err != nil {
			e.t.Fatal(err)
		}
		qemuCompare(e.t, src, res.Disks[i], dd.Format)
	}
}

func qemuCompare(t testing.TB, src, img, format string) {
	t.Helper()
	qi, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Fatal("qemu-img not found: install it with `apt-get install qemu-utils`")
	}
	args := []string{"compare", "-q", "-f", "raw", "-F", format, src, img}
	if format == "vhd" { // the footer's current size, not the CHS geometry's
		args = []string{"compare", "-q", "--image-opts", "driver=raw,file.filename=" + src, "driver=vpc,force_size_calc=current_size,file.filename=" + img}
	}
	out, err := exec.Command(qi, args...).CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("qemu-img compare %s %s: exit %d: %s", src, img, ee.ExitCode(), out)
		}
		t.Fatal(err)
	}
}

// engines runs fn on a fresh env on SQLite and on PostgreSQL.
func engines(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, eng := range []db.Engine{db.SQLite, db.Postgres} {
		t.Run(string(eng), func(t *testing.T) { fn(t, newEnv(t, eng)) })
	}
}

// desired lists the machines the configuration server is told to replicate.
func (e *env) desired() []string {
	e.t.Helper()
	ds, err := e.vs.ConfigServerDesiredState(e.csCtx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, it := range ds.Items {
		out = append(out, it.Machine)
	}
	return out
}

func (e *env) itemState(machine string) string {
	e.t.Helper()
	it, err := e.vs.GetItem(context.Background(), "lab", machine)
	if err != nil {
		e.t.Fatal(err)
	}
	return it.State
}

// pointIDs lists the complete points of web01, oldest first.
func (e *env) pointIDs() []string {
	e.t.Helper()
	pts, err := e.repo.Points(context.Background(), "web01")
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, p := range pts {
		if !p.Partial {
			out = append(out, p.ID)
		}
	}
	return out
}

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }
