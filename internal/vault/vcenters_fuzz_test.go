package vault

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzInventoryReport: a configuration server's inventory with vCenters and discovered VMs either
// decodes and validates (each machine's source, each vCenter report), or fails with a 4xx Error.
func FuzzInventoryReport(f *testing.F) {
	for _, s := range []string{
		`{"machines":[{"name":"app-01","source":"vcenter","vcenter":"vc01","vm_name":"App_01","power_state":"poweredOn","disks":[{"name":"Hard disk 1","size_bytes":17179869184,"datastore":"ds1","file":"[ds1] a/a.vmdk","thin":true}],"hardware":{"cpus":2,"memory_mb":4096}}],"vcenters":[{"name":"vc01","address":"10.0.0.20","port":443,"account":"vc","status":"Connected","vms":1,"refreshed":2}]}`,
		`{"machines":[{"name":"db01","source":"agent"},{"name":"x","source":"vcenter"}]}`,
		`{"vcenters":[{"name":"vc01","address":"a","port":0,"status":"Connected"}]}`,
		`{"vcenters":[{"name":"bad name","address":"a","port":443,"status":"Unknown"}]}`,
		`{"vcenters":[{"name":"vc","address":"a","port":443,"status":"Fine","vms":-1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error) {
			if err == nil {
				return
			}
			if st := StatusOf(err); st < 400 || st >= 500 {
				t.Fatalf("status %d for %q: %v", st, b, err)
			}
		}
		r := httptest.NewRequest("PUT", "/", bytes.NewReader(b))
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, MaxBodyBytes)
		var inv Inventory
		if err := decode(r, &inv); err != nil {
			check(err)
			return
		}
		for i := range inv.Machines {
			m := &inv.Machines[i]
			check(checkSource(m))
			if m.Source == "agent" {
				t.Fatalf("source agent kept for %s", m.Name)
			}
		}
		for _, v := range inv.VCenters {
			check(v.validate())
		}
	})
}
