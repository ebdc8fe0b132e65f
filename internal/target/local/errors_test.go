package local

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/opensiterecovery/osr/internal/target"
)

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "local target: no output directory (setting dir)"},
		{Config{Dir: t.TempDir(), Format: "vmdk"}, `local target: format "vmdk" is not raw, vhd or qcow2`},
	} {
		if _, err := New(tc.cfg); err == nil || err.Error() != tc.want {
			t.Errorf("New(%+v): %v, want %q", tc.cfg, err, tc.want)
		}
	}
	c, err := ConfigFromSettings(map[string]string{"dir": "/srv/dr", "format": "vhd"})
	if err != nil || c.Dir != "/srv/dr" || c.Format != "vhd" {
		t.Fatalf("ConfigFromSettings: %+v, %v", c, err)
	}
	_, err = ConfigFromSettings(map[string]string{"dir": "/srv/dr", "container": "x"})
	if want := `local target: unknown setting "container" (dir, format)`; err == nil || err.Error() != want {
		t.Fatalf("ConfigFromSettings: %v, want %q", err, want)
	}
}

// TestCreateBadRequests: each bad request fails with its error and creates nothing.
func TestCreateBadRequests(t *testing.T) {
	src := testDisks()
	pt, disks := commitPoint(t, src...)
	for _, tc := range []struct {
		name string
		mod  func(r *target.Request)
		want string
	}{
		{"no run", func(r *target.Request) { r.Run = "" }, "local target: run is empty"},
		{"no name", func(r *target.Request) { r.Definition.Name = "" }, "local target: machine name is empty"},
		{"no disks", func(r *target.Request) { r.Disks, r.Definition.Disks = nil, nil }, "local target: the request has no disks"},
		{"count", func(r *target.Request) { r.Definition.Disks = r.Definition.Disks[:1] }, "local target: the request has 2 disks, the definition 1"},
		{"order", func(r *target.Request) { r.Disks = []target.Disk{disks[1], disks[0]} }, `local target: definition disk 0 is "sda", the point's is "sdb"`},
		{"size", func(r *target.Request) { r.Definition.Disks[1].SizeBytes = 1 << 20 }, "local target: disk sdb is 1048576 bytes in the definition, 1049088 in the point"},
		{"format", func(r *target.Request) { r.Definition.Disks[0].Format = "vmdk" }, `local target: disk sda: format "vmdk" is not raw, vhd or qcow2`},
		{"file clash", func(r *target.Request) {
			r.Disks = []target.Disk{named{disks[0], "a:b"}, named{disks[1], "a/b"}}
			r.Definition.Disks[0].Name, r.Definition.Disks[1].Name = "a:b", "a/b"
		}, "local target: disk a/b: another disk has the file name a_b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			p := newProvider(t, root, FormatRaw)
			req := request("job-3", pt, disks)
			tc.mod(&req)
			_, err := p.Create(context.Background(), req, nil)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Create: %v, want %q", err, tc.want)
			}
			if left, _ := os.ReadDir(root); len(left) != 0 {
				t.Fatalf("a refused request left %v", left)
			}
		})
	}
}

type named struct {
	target.Disk
	name string
}

func (n named) Name() string { return n.name }

func TestSafeNames(t *testing.T) {
	src := testDisks()[1:]
	pt, disks := commitPoint(t, src...)
	root := t.TempDir()
	p := newProvider(t, root, FormatRaw)
	req := request("job/../4", pt, []target.Disk{named{disks[0], "scsi0:1"}})
	req.Definition.Name = ".Web Server 01"
	req.Definition.Disks[0].Name = "scsi0:1"
	res, err := p.Create(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "_Web_Server_01-job_.._4")
	if res.Location != dir || res.Disks[0] != filepath.Join(dir, "scsi0_1.raw") {
		t.Fatalf("result %+v", res)
	}
}

func TestRemoveRefuses(t *testing.T) {
	root := t.TempDir()
	p := newProvider(t, root, FormatRaw)
	outside := t.TempDir()
	for _, tc := range []struct {
		res  target.Result
		want string
	}{
		{target.Result{Provider: "azure", Location: filepath.Join(root, "x")}, `local target: cannot remove what provider "azure" made`},
		{target.Result{Provider: "local", Location: outside}, "local target: " + outside + " is not a run directory in " + p.Dir()},
		{target.Result{Provider: "local", Location: root}, "local target: " + root + " is not a run directory in " + p.Dir()},
		{target.Result{Provider: "local", Location: filepath.Join(root, "a", "b")}, "local target: " + filepath.Join(root, "a", "b") + " is not a run directory in " + p.Dir()},
		{target.Result{Provider: "local", Location: "web01-job"}, "local target: web01-job is not a run directory in " + p.Dir()},
	} {
		if err := p.Remove(context.Background(), tc.res); err == nil || err.Error() != tc.want {
			t.Errorf("Remove(%+v): %v, want %q", tc.res, err, tc.want)
		}
	}
	if _, err := os.Stat(outside); err != nil {
		t.Fatalf("outside directory: %v", err)
	}
}
