//go:build linux

package azure_test

import (
	"testing"

	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/target/azure"
)

func TestNewBadConfig(t *testing.T) {
	good := azure.Config{ContainerURL: "http://127.0.0.1:10000/devstoreaccount1/c", Account: "a", Key: "a2V5"}
	tests := []struct {
		name   string
		change func(*azure.Config)
		err    string
	}{
		{"no url", func(c *azure.Config) { c.ContainerURL = "" }, "azure target: no container URL"},
		{"not http", func(c *azure.Config) { c.ContainerURL = "ftp://h/c" }, `azure target: container URL "ftp://h/c" is not an http(s) URL`},
		{"key without account", func(c *azure.Config) { c.Account = "" }, "azure target: give both the account and its key, or neither"},
		{"no credentials", func(c *azure.Config) { c.Account, c.Key = "", "" }, "azure target: no credentials: need an account and key, or a SAS token in the container URL"},
		{"prefix", func(c *azure.Config) { c.Prefix = "a/../b" }, `azure target: prefix element ".." is not 1 to 63 letters, digits, '.', '_' or '-' starting with a letter or digit`},
		{"workers", func(c *azure.Config) { c.Workers = 100 }, "azure target: workers 100 is not between 1 and 64"},
		{"gap", func(c *azure.Config) { c.MinZeroGap = 1000 }, "azure target: minimum zero gap 1000 is not a positive multiple of 512"},
		{"window", func(c *azure.Config) { c.Window = 8 << 20 }, "azure target: window 8388608 is not a multiple of 512 up to 4194304"},
		{"watermark", func(c *azure.Config) { c.WatermarkEvery = -1 }, "azure target: watermark interval -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.change(&cfg)
			if _, err := azure.New(cfg, azure.Deps{}); err == nil || err.Error() != tt.err {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
	sas := good
	sas.Account, sas.Key, sas.ContainerURL = "", "", good.ContainerURL+"?sv=2024&sig=x"
	if _, err := azure.New(sas, azure.Deps{}); err != nil {
		t.Errorf("a SAS URL: %v", err)
	}
}

func TestMissingContainer(t *testing.T) {
	cfg, _ := azuriteConfig(t)
	cfg.CreateContainer = false
	disk := openDisk(t, "sda", makeSparse(t, t.TempDir(), "sda", mib))
	_, err := newProvider(t, cfg).Create(t.Context(), target.Request{Run: "job-1", Definition: definition(disk), Disks: []target.Disk{disk}}, nil)
	if want := "azure target: container " + cfg.ContainerURL + " does not exist: create it, or set create_container"; err == nil || err.Error() != want {
		t.Fatalf("create in a missing container: %v, want %q", err, want)
	}
}

// TestCreateBadInput: a request Create cannot carry out fails before anything is written.
func TestCreateBadInput(t *testing.T) {
	cfg, c := azuriteConfig(t)
	if _, err := c.Create(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sda := openDisk(t, "sda", makeSparse(t, dir, "sda", mib))
	sdb := openDisk(t, "sdb", makeSparse(t, dir, "sdb", mib))
	empty := openDisk(t, "sdc", makeSparse(t, dir, "sdc", 0))
	p := newProvider(t, cfg)
	tests := []struct {
		name   string
		change func(*target.Request)
		err    string
	}{
		{"run", func(r *target.Request) { r.Run = "job/1" }, `azure target: run "job/1" is not 1 to 63 letters, digits, '.', '_' or '-' starting with a letter or digit`},
		{"machine", func(r *target.Request) { r.Definition.Name = "" }, `azure target: machine name "" is not 1 to 63 letters, digits, '.', '_' or '-' starting with a letter or digit`},
		{"no disks", func(r *target.Request) { r.Disks = nil }, "azure target: the request has no disks"},
		{"count", func(r *target.Request) { r.Disks = r.Disks[:1] }, "azure target: the request has 1 disks and its definition 2"},
		{"order", func(r *target.Request) { r.Disks = []target.Disk{sdb, sda} }, "azure target: disk 0 is sdb, but the definition names sda"},
		{"twice", func(r *target.Request) { r.Disks = []target.Disk{sda, sda} }, "azure target: disk sda is given twice"},
		{"empty disk", func(r *target.Request) { r.Disks[1] = empty; r.Definition.Disks[1].Name = "sdc" }, "azure target: disk sdc has size 0"},
		{"unmapped network", func(r *target.Request) { r.Definition.NICs[0].Network = "" }, "azure target: nic eth0 has no target network"},
		{"vm size", func(r *target.Request) { r.Definition.MemoryMB = 1 << 30 }, "azure target: no VM size in the table has 2 vCPUs and 1073741824 MiB of memory; give one with the vm size option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := target.Request{Run: "job-1", Definition: definition(sda, sdb), Disks: []target.Disk{sda, sdb}}
			tt.change(&req)
			_, err := p.Create(t.Context(), req, nil)
			if err == nil || err.Error() != tt.err {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if got := listBlobs(t, c); len(got) != 0 {
				t.Fatalf("a refused request left blobs %v", got)
			}
		})
	}
}
