package vcenter

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeInventory: any input gives an inventory that re-encodes and decodes to the same, or
// an error.
func FuzzDecodeInventory(f *testing.F) {
	f.Add([]byte(`{"version":1,"vcenters":[],"machines":[]}`))
	f.Add([]byte(`{"version":1,"vcenters":[{"name":"vc1","address":"10.0.0.2","port":443,"account":"vc","thumbprint":"AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB","status":"Connected","refreshed":2,"added":"2026-03-01T10:00:00Z","vms":[{"name":"web01","machine":"web01","moref":"vm-1","uuid":"u","instance_uuid":"i","guest_os":"Debian","guest_family":"linux","power_state":"poweredOn","ips":["10.0.0.9"],"host":"h1","datastores":["ds"],"cpus":2,"memory_mb":2048,"firmware":"uefi","nics":[{"label":"Network adapter 1","mac":"00:50:56:01:02:03","network":"VM Network","ips":["10.0.0.9"]}],"disks":[{"label":"Hard disk 1","key":2000,"size_bytes":1073741824,"datastore":"ds","file":"[ds] web01/web01.vmdk"}]}]}],"machines":[{"name":"db01","address":"db01.example.com","account":"linux","added":"2026-03-01T10:00:00Z"}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"machines":[{"name":"a","address":"x"},{"name":"a","address":"y"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		inv, err := decode(b)
		if err != nil {
			return
		}
		out, err := json.Marshal(inv)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decode(out)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		out2, _ := json.Marshal(again)
		if string(out) != string(out2) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
	})
}
