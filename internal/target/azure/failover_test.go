//go:build linux

package azure_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/failover"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/target/azure"
	"github.com/opensiterecovery/osr/internal/vault"
)

// TestFailoverService runs a test failover of a protected machine to an azure target through the
// failover service (vault on SQLite, the point in the vault's store), checks the page blobs
// against the point's disks and the template's NICs on the test network, and cleans it up.
func TestFailoverService(t *testing.T) {
	cfg, c := azuriteConfig(t)
	ctx := context.Background()
	dir := t.TempDir()
	vs, err := vault.New(vault.Config{
		DB: filepath.Join(dir, "vault.db"), MasterKeyFile: filepath.Join(dir, "master.key"),
		URLs: []string{"https://127.0.0.1:1"}, Hosts: []string{"127.0.0.1"},
		StoreOptions: store.Options{KDF: crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}},
	}, vault.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer vs.Close()
	fs, err := failover.New(failover.Config{Vault: vs, Providers: map[string]failover.Factory{
		"azure": func(tc failover.TargetConfig) (target.Provider, error) {
			c, err := azure.ConfigFromSettings(tc.Settings, tc.Secret)
			if err != nil {
				return nil, err
			}
			return azure.New(c, azure.Deps{})
		},
	}}, failover.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if _, err := vs.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	owner := vault.WithActor(ctx, vault.Actor{User: "admin", Role: vault.RoleOwner})
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// A vault, a configuration server with the machine in its inventory, the machine protected.
	v, err := vs.CreateVault(owner, vault.CreateVaultRequest{Name: "lab",
		StorageURL: (&url.URL{Scheme: "file", Path: filepath.Join(dir, "storage")}).String()})
	must(v, err)
	rk, err := vs.CreateRegistrationKey(owner, "lab")
	must(rk, err)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "cs"}}, k)
	reg, err := vs.Register(ctx, vault.RegisterRequest{RegistrationKey: rk.Key, Name: "cs1", Hostname: "cs1.lab",
		CSRPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), ClientTime: time.Now()})
	must(reg, err)
	cs := vault.WithActor(ctx, vault.Actor{ConfigServer: reg.ConfigServerID, VaultID: v.ID})
	const sdaSize, sdbSize = 3*mib + 4096, 2 * mib
	must(nil, vs.ConfigServerInventory(cs, vault.Inventory{Machines: []vault.Machine{{
		Name: "web01", Hostname: "web01.lab", OS: "linux", Addresses: []string{"10.0.0.21"}, Source: "agent",
		Disks: []vault.MachineDisk{{Name: "sda", SizeBytes: sdaSize}, {Name: "sdb", SizeBytes: sdbSize}},
		Hardware: &vault.Hardware{CPUs: 4, MemoryMB: 16384, NICs: []vault.NIC{{Name: "eth0", MAC: "52:54:00:12:34:56",
			Network: "prod-net", Addresses: []string{"10.0.0.21/24"}, Gateway: "10.0.0.1"}}},
	}}}))
	must(vs.CreatePolicy(owner, "lab", vault.CreatePolicyRequest{Name: "gold"}))
	must(vs.AssociatePolicy(owner, "lab", "gold", vault.AssociateRequest{ConfigServer: "cs1"}))
	must(vs.EnableReplication(owner, "lab", vault.EnableRequest{Machine: "web01", Policy: "gold"}))

	// A recovery point of its two disks in the vault's store.
	_, repo, err := vs.VaultRepo(ctx, "lab")
	must(repo, err)
	images := map[string][]byte{"sda": make([]byte, sdaSize), "sdb": make([]byte, sdbSize)}
	copy(images["sda"], randomBytes(mib))
	copy(images["sda"][2*mib:], randomBytes(mib+4096))
	copy(images["sdb"][mib/2:], randomBytes(4096))
	w, err := repo.NewWriter(ctx, "web01", nil, []store.DiskSpec{{Name: "sda", Size: sdaSize}, {Name: "sdb", Size: sdbSize}})
	must(w, err)
	for name, img := range images {
		must(w.Disk(name).WriteAt(img, 0))
	}
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	pt, err := w.Commit(ctx, store.CommitMeta{Time: at, Consistency: store.CrashConsistent})
	must(pt, err)
	must(vs.ConfigServerHeartbeat(cs, vault.Heartbeat{Time: time.Now(), Items: []vault.ItemReport{
		{Machine: "web01", State: vault.StateProtected, InitialPercent: 100, LastPointTime: &at, LastPointID: pt.ID}}}))

	// The azure target and the network mapping.
	must(fs.AddTarget(owner, "lab", failover.AddTargetRequest{Name: "az", Provider: "azure", Secret: cfg.Key,
		Settings: map[string]string{"container_url": cfg.ContainerURL, "account": cfg.Account, "create_container": "true", "prefix": "dr"}}))
	must(fs.AddMapping(owner, "lab", failover.AddMappingRequest{SourceNetwork: "prod-net", TargetNetwork: "vnet-dr:app", TestNetwork: "vnet-test:app"}))

	wait := func(op *failover.Operation) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			j, err := vs.GetJob(owner, op.Job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if j.State != vault.JobRunning {
				if j.State != vault.JobSucceeded {
					t.Fatalf("job %s: %+v", j.ID, j)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s still running", j.ID)
			}
		}
	}
	op, err := fs.TestFailover(owner, "lab", "web01", failover.TestRequest{Point: pt.ID})
	must(op, err)
	wait(op)
	st, err := fs.Status(owner, "lab", "web01")
	must(st, err)
	if st.Test == nil || st.Test.Result == nil {
		t.Fatalf("status after the test failover: %+v", st)
	}
	res := st.Test.Result
	if res.Provider != "azure" || len(res.Disks) != 2 || !strings.HasPrefix(res.Location, cfg.ContainerURL+"/dr/web01-test-") {
		t.Fatalf("result %+v", res)
	}
	for i, name := range []string{"sda", "sdb"} {
		src := filepath.Join(dir, name+".raw")
		if err := os.WriteFile(src, images[name], 0o600); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(res.Disks[i], "/"+name+".vhd") {
			t.Fatalf("disk %d is %s, want %s", i, res.Disks[i], name)
		}
		checkBlob(t, c, cfg, res.Disks[i], src)
	}
	tmplBytes, _ := download(t, c, blobName(t, cfg, res.DefinitionFile), t.TempDir())
	var tmpl map[string]any
	if err := json.Unmarshal(tmplBytes, &tmpl); err != nil {
		t.Fatal(err)
	}
	nic := tmpl["resources"].([]any)[2].(map[string]any)
	ipc := nic["properties"].(map[string]any)["ipConfigurations"].([]any)[0].(map[string]any)["properties"].(map[string]any)
	if got, want := ipc["subnet"].(map[string]any)["id"], "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet-test', 'app')]"; got != want {
		t.Errorf("test failover NIC on %v, want %v", got, want)
	}
	if got := tmpl["parameters"].(map[string]any)["vmSize"].(map[string]any)["defaultValue"]; got != "Standard_D4s_v5" {
		t.Errorf("vm size %v, want Standard_D4s_v5 for 4 vCPUs and 16 GiB", got)
	}

	// Cleanup removes every blob the test failover made.
	op, err = fs.CleanupTest(owner, "lab", "web01")
	must(op, err)
	wait(op)
	if got := listBlobs(t, c); len(got) != 0 {
		t.Errorf("after the cleanup the container holds %v", got)
	}
}
