// Package plantest gives recovery-plan and drill tests a real vault service (SQLite in a
// temporary directory, a local replica store) with protected machines, and LocalFailover: a
// stand-in for the failover service that writes each machine as the local provider does (a disk
// file and a machine.json) and runs each operation as a real vault job.
package plantest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/recoveryplan"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/vault"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

// VaultName is the vault NewVault creates.
const VaultName = "lab"

// NewVault starts a vault service on SQLite with one vault (VaultName) and the given protected
// machines.
func NewVault(t testing.TB, clk clock.Clock, machines ...string) *vault.Service {
	t.Helper()
	return NewVaultDB(t, clk, "", machines...)
}

// NewVaultDB is NewVault on the database dsn (a postgres:// URL; empty: SQLite in a temporary
// directory).
func NewVaultDB(t testing.TB, clk clock.Clock, dsn string, machines ...string) *vault.Service {
	t.Helper()
	return NewVaultRoutes(t, clk, dsn, nil, machines...)
}

// NewVaultRoutes is NewVaultDB serving routes beside the vault's own (vault.Config.ExtraRoutes).
func NewVaultRoutes(t testing.TB, clk clock.Clock, dsn string, routes []vault.ExtraRoute, machines ...string) *vault.Service {
	t.Helper()
	dir := t.TempDir()
	if dsn == "" {
		dsn = filepath.Join(dir, "vault.db")
	}
	svc, err := vault.New(vault.Config{
		DB: dsn, MasterKeyFile: filepath.Join(dir, "master.key"), URLs: []string{"https://127.0.0.1:1"},
		StoreOptions: store.Options{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}}, ExtraRoutes: routes,
	}, vault.Deps{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	ctx := context.Background()
	if _, err := svc.CreateVault(ctx, vault.CreateVaultRequest{Name: VaultName, StorageURL: filepath.Join(dir, "store")}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreatePolicy(ctx, VaultName, vault.CreatePolicyRequest{Name: "gold"}); err != nil {
		t.Fatal(err)
	}
	Protect(t, svc, machines...)
	return svc
}

// Protect records machines as protected items of VaultName (as a configuration server's reports
// would leave them), under a configuration server cs1.
func Protect(t testing.TB, svc *vault.Service, machines ...string) {
	t.Helper()
	ctx := context.Background()
	v, err := svc.GetVault(ctx, VaultName)
	if err != nil {
		t.Fatal(err)
	}
	d := svc.DB()
	now := time.Now().UnixNano()
	if _, err := d.Exec(ctx, `INSERT INTO config_servers (id, vault_id, name, hostname, ca_sha256, ca_cert_pem, registered, last_heartbeat, heartbeat) VALUES ('cs-test', ?, 'cs1', 'cs1', 'x', '', ?, 0, '{}') ON CONFLICT DO NOTHING`, v.ID, now); err != nil {
		t.Fatal(err)
	}
	var policy string
	if err := d.QueryRow(ctx, `SELECT id FROM policies WHERE vault_id = ? AND name = 'gold'`, v.ID).Scan(&policy); err != nil {
		t.Fatal(err)
	}
	for _, m := range machines {
		if _, err := d.Exec(ctx, `INSERT INTO protected_items (vault_id, machine, policy_id, process_server, config_server_id, state, initial_percent, last_point_time, last_point_id, error, created, updated) VALUES (?, ?, ?, 'ps1', 'cs-test', 'protected', 100, ?, 'pt-1', '', ?, ?)`,
			v.ID, m, policy, now, now, now); err != nil {
			t.Fatal(err)
		}
	}
}

// Call is one operation LocalFailover ran.
type Call struct {
	Op, Machine string
	Opts        recoveryplan.MachineOptions
	Start, End  time.Time
}

// LocalFailover fails machines over into Dir/<machine>: a copy of Disks[machine] (or of Disk)
// as disk0.raw and a machine.json naming it. Fail makes a machine's operation fail with that
// message; Delay holds each operation for a while (to see parallelism).
type LocalFailover struct {
	Vault *vault.Service
	Dir   string
	Disk  string
	Disks map[string]string
	Fail  map[string]string
	Delay time.Duration
	// Meet lists machines whose operations each wait (up to 10 s) until all of them run at
	// once; Met reports whether they did.
	Meet []string

	mu      sync.Mutex
	calls   []Call
	jobs    map[string]*job
	arrived int
	met     chan struct{}
	running int
	most    int
}

// MostAtOnce is the largest number of operations that ran at the same time.
func (f *LocalFailover) MostAtOnce() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.most
}

// Met reports whether the Meet machines' operations all ran at the same time.
func (f *LocalFailover) Met() bool {
	f.mu.Lock()
	ch := f.met
	f.mu.Unlock()
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// meet waits for the other Meet machines when machine is one of them.
func (f *LocalFailover) meet(machine string) {
	in := false
	for _, m := range f.Meet {
		in = in || m == machine
	}
	if !in {
		return
	}
	f.mu.Lock()
	if f.met == nil {
		f.met = make(chan struct{})
	}
	ch := f.met
	f.arrived++
	if f.arrived == len(f.Meet) {
		close(ch)
	}
	f.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
	}
}

type job struct {
	done chan struct{}
	out  *recoveryplan.Outcome
	err  error
}

// Calls returns the operations run so far, in the order they ended.
func (f *LocalFailover) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

func (f *LocalFailover) TestFailover(ctx context.Context, v, m string, o recoveryplan.MachineOptions) (string, error) {
	return f.start(ctx, "test-failover", v, m, o)
}

func (f *LocalFailover) Failover(ctx context.Context, v, m string, o recoveryplan.MachineOptions) (string, error) {
	return f.start(ctx, "failover", v, m, o)
}

func (f *LocalFailover) Cleanup(ctx context.Context, v, m string) (string, error) {
	return f.start(ctx, "cleanup", v, m, recoveryplan.MachineOptions{})
}

func (f *LocalFailover) Wait(ctx context.Context, id string) (*recoveryplan.Outcome, error) {
	f.mu.Lock()
	j := f.jobs[id]
	f.mu.Unlock()
	if j == nil {
		return nil, fmt.Errorf("job %s does not exist", id)
	}
	select {
	case <-j.done:
		return j.out, j.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *LocalFailover) start(ctx context.Context, op, vaultName, machine string, o recoveryplan.MachineOptions) (string, error) {
	v, err := f.Vault.GetVault(ctx, vaultName)
	if err != nil {
		return "", err
	}
	var id string
	if err := f.Vault.DB().InTx(ctx, func(tx *db.Tx) error {
		id, err = f.Vault.StartJob(ctx, tx, v.ID, op, machine)
		return err
	}); err != nil {
		return "", err
	}
	j := &job{done: make(chan struct{})}
	f.mu.Lock()
	if f.jobs == nil {
		f.jobs = map[string]*job{}
	}
	f.jobs[id] = j
	f.mu.Unlock()
	go func() {
		start := time.Now()
		f.mu.Lock()
		f.running++
		f.most = max(f.most, f.running)
		f.mu.Unlock()
		time.Sleep(f.Delay)
		f.meet(machine)
		j.out, j.err = f.do(op, machine)
		f.Vault.FinishJob(context.Background(), nil, id, "", j.err)
		f.mu.Lock()
		f.calls = append(f.calls, Call{Op: op, Machine: machine, Opts: o, Start: start, End: time.Now()})
		f.running--
		f.mu.Unlock()
		close(j.done)
	}()
	return id, nil
}

func (f *LocalFailover) do(op, machine string) (*recoveryplan.Outcome, error) {
	if msg := f.Fail[machine]; msg != "" {
		return nil, fmt.Errorf("%s", msg)
	}
	dir := filepath.Join(f.Dir, machine)
	if op == "cleanup" {
		return &recoveryplan.Outcome{}, os.RemoveAll(dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	src := f.Disk
	if d, ok := f.Disks[machine]; ok {
		src = d
	}
	size := int64(0)
	if src != "" {
		n, err := copyFile(src, filepath.Join(dir, "disk0.raw"))
		if err != nil {
			return nil, err
		}
		size = n
	}
	def := target.Definition{Version: 1, Name: machine, Source: machine, PointID: "pt-1", Test: op == "test-failover", Firmware: "bios", CPUs: 1, MemoryMB: 512,
		Disks: []target.DefinitionDisk{{Name: "sda", SizeBytes: size, Format: "raw", File: "disk0.raw"}}, NICs: []target.NIC{}}
	b, _ := json.MarshalIndent(def, "", "  ")
	path := filepath.Join(dir, "machine.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil, err
	}
	return &recoveryplan.Outcome{PointID: "pt-1", DefinitionFile: path}, nil
}

func copyFile(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}
