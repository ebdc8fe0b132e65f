//go:build linux

package azure

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/opensiterecovery/osr/internal/target"
)

func sampleDefinition() target.Definition {
	return target.Definition{
		Version: 1, Name: "web01-test", Source: "web01", PointID: "p-42", PointAt: "2026-05-01T10:00:00Z",
		Test: true, OS: "linux", Firmware: "uefi", CPUs: 4, MemoryMB: 16384,
		Disks: []target.DefinitionDisk{{Name: "sda", SizeBytes: 1 << 30}, {Name: "sdb", SizeBytes: 2 << 30}},
		NICs: []target.NIC{
			{Name: "eth0", SourceNetwork: "lan", Network: "vnet-dr/app", IPMode: "keep", Address: "10.1.2.3/24", DNS: []string{"10.1.0.2"}},
			{Name: "eth1", SourceNetwork: "backup", Network: "rg-net:vnet-bk:bk", IPMode: "dhcp"},
			{Name: "eth2", SourceNetwork: "mgmt", Network: "/subscriptions/s1/resourceGroups/g1/providers/Microsoft.Network/virtualNetworks/v1/subnets/mgmt", IPMode: "static", Address: "10.9.0.7"},
		},
	}
}

var sampleBlobs = []string{"http://h/acct/c/web01-test-r1/sda.vhd", "http://h/acct/c/web01-test-r1/sdb.vhd"}

// field walks a decoded JSON value along a path of object keys and array indexes.
func field(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: %T is not an object", p, v)
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("no key %q in %v", k, m)
			}
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("at %v: %v is not an array that long", p, v)
			}
			v = a[k]
		}
	}
	return v
}

func TestRenderTemplate(t *testing.T) {
	cfg := Config{DiskSKU: "Premium_LRS", StorageAccountID: "/subscriptions/s1/resourceGroups/g1/providers/Microsoft.Storage/storageAccounts/a1"}
	b, err := renderTemplate(sampleDefinition(), sampleBlobs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var tm any
	if err := json.Unmarshal(b, &tm); err != nil {
		t.Fatalf("template is not JSON: %v\n%s", err, b)
	}
	again, _ := renderTemplate(sampleDefinition(), sampleBlobs, cfg)
	if string(again) != string(b) {
		t.Error("two renderings differ")
	}
	checks := []struct {
		path []any
		want any
	}{
		{[]any{"$schema"}, TemplateSchema},
		{[]any{"contentVersion"}, "1.0.0.0"},
		{[]any{"metadata", "source"}, "web01"},
		{[]any{"metadata", "pointId"}, "p-42"},
		{[]any{"metadata", "test"}, true},
		{[]any{"parameters", "vmName", "defaultValue"}, "web01-test"},
		{[]any{"parameters", "vmSize", "defaultValue"}, "Standard_D4s_v5"},
		{[]any{"parameters", "osType", "defaultValue"}, "Linux"},
		{[]any{"parameters", "diskSku", "defaultValue"}, "Premium_LRS"},
		{[]any{"parameters", "storageAccountId", "defaultValue"}, cfg.StorageAccountID},
		{[]any{"parameters", "location", "defaultValue"}, "[resourceGroup().location]"},
		// The OS disk, imported from its page blob.
		{[]any{"resources", 0, "type"}, "Microsoft.Compute/disks"},
		{[]any{"resources", 0, "name"}, "[concat(parameters('vmName'), '-sda')]"},
		{[]any{"resources", 0, "sku", "name"}, "[parameters('diskSku')]"},
		{[]any{"resources", 0, "properties", "creationData", "createOption"}, "Import"},
		{[]any{"resources", 0, "properties", "creationData", "sourceUri"}, sampleBlobs[0]},
		{[]any{"resources", 0, "properties", "creationData", "storageAccountId"}, "[parameters('storageAccountId')]"},
		{[]any{"resources", 0, "properties", "osType"}, "[parameters('osType')]"},
		{[]any{"resources", 0, "properties", "hyperVGeneration"}, "V2"},
		{[]any{"resources", 0, "tags", "osr-test-failover"}, "true"},
		{[]any{"resources", 1, "properties", "creationData", "sourceUri"}, sampleBlobs[1]},
		// NICs on the mapped subnets with their IP modes.
		{[]any{"resources", 2, "type"}, "Microsoft.Network/networkInterfaces"},
		{[]any{"resources", 2, "name"}, "[concat(parameters('vmName'), '-eth0')]"},
		{[]any{"resources", 2, "properties", "ipConfigurations", 0, "properties", "subnet", "id"},
			"[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet-dr', 'app')]"},
		{[]any{"resources", 2, "properties", "ipConfigurations", 0, "properties", "privateIPAllocationMethod"}, "Static"},
		{[]any{"resources", 2, "properties", "ipConfigurations", 0, "properties", "privateIPAddress"}, "10.1.2.3"},
		{[]any{"resources", 2, "properties", "dnsSettings", "dnsServers", 0}, "10.1.0.2"},
		{[]any{"resources", 3, "properties", "ipConfigurations", 0, "properties", "subnet", "id"},
			"[resourceId('rg-net', 'Microsoft.Network/virtualNetworks/subnets', 'vnet-bk', 'bk')]"},
		{[]any{"resources", 3, "properties", "ipConfigurations", 0, "properties", "privateIPAllocationMethod"}, "Dynamic"},
		{[]any{"resources", 4, "properties", "ipConfigurations", 0, "properties", "subnet", "id"}, sampleDefinition().NICs[2].Network},
		{[]any{"resources", 4, "properties", "ipConfigurations", 0, "properties", "privateIPAddress"}, "10.9.0.7"},
		// The VM.
		{[]any{"resources", 5, "type"}, "Microsoft.Compute/virtualMachines"},
		{[]any{"resources", 5, "name"}, "[parameters('vmName')]"},
		{[]any{"resources", 5, "properties", "hardwareProfile", "vmSize"}, "[parameters('vmSize')]"},
		{[]any{"resources", 5, "properties", "storageProfile", "osDisk", "createOption"}, "Attach"},
		{[]any{"resources", 5, "properties", "storageProfile", "osDisk", "managedDisk", "id"},
			"[resourceId('Microsoft.Compute/disks', concat(parameters('vmName'), '-sda'))]"},
		{[]any{"resources", 5, "properties", "storageProfile", "dataDisks", 0, "lun"}, float64(0)},
		{[]any{"resources", 5, "properties", "storageProfile", "dataDisks", 0, "managedDisk", "id"},
			"[resourceId('Microsoft.Compute/disks', concat(parameters('vmName'), '-sdb'))]"},
		{[]any{"resources", 5, "properties", "networkProfile", "networkInterfaces", 0, "properties", "primary"}, true},
		{[]any{"resources", 5, "properties", "networkProfile", "networkInterfaces", 1, "properties", "primary"}, false},
		{[]any{"resources", 5, "properties", "networkProfile", "networkInterfaces", 2, "id"},
			"[resourceId('Microsoft.Network/networkInterfaces', concat(parameters('vmName'), '-eth2'))]"},
		{[]any{"outputs", "vmId", "value"}, "[resourceId('Microsoft.Compute/virtualMachines', parameters('vmName'))]"},
	}
	for _, c := range checks {
		if got := field(t, tm, c.path...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v = %#v, want %#v", c.path, got, c.want)
		}
	}
	if n := len(field(t, tm, "resources").([]any)); n != 6 {
		t.Errorf("%d resources, want 2 disks, 3 NICs and the VM", n)
	}
	if n := len(field(t, tm, "resources", 5, "dependsOn").([]any)); n != 5 {
		t.Errorf("the VM depends on %d resources, want 5", n)
	}
	if _, ok := field(t, tm, "resources", 1, "properties").(map[string]any)["osType"]; ok {
		t.Error("a data disk has an osType")
	}
	if _, ok := field(t, tm, "parameters", "storageAccountId").(map[string]any)["defaultValue"]; !ok {
		t.Error("storageAccountId has no default though the config gives one")
	}
	// Without a storage account the parameter has no default: the user gives it.
	b, _ = renderTemplate(sampleDefinition(), sampleBlobs, Config{DiskSKU: "Standard_LRS", VMSize: "Standard_D8s_v5"})
	if strings.Contains(string(b), "Microsoft.Storage") || !strings.Contains(string(b), `"defaultValue": "Standard_D8s_v5"`) {
		t.Errorf("template without a storage account or with a VM size override:\n%s", b)
	}
}

func TestSubnetID(t *testing.T) {
	const sn = "'Microsoft.Network/virtualNetworks/subnets'"
	for _, tt := range []struct{ network, want string }{
		{"vnet-dr", "[resourceId(" + sn + ", 'vnet-dr', 'default')]"},
		{"vnet-dr:app", "[resourceId(" + sn + ", 'vnet-dr', 'app')]"},
		{"vnet-dr/app", "[resourceId(" + sn + ", 'vnet-dr', 'app')]"},
		{"rg:vnet-dr:app", "[resourceId('rg', " + sn + ", 'vnet-dr', 'app')]"},
		{"0000-11:rg:v:s", "[resourceId('0000-11', 'rg', " + sn + ", 'v', 's')]"},
		{"/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/x",
			"/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/x"},
	} {
		if got, err := subnetID(tt.network); err != nil || got != tt.want {
			t.Errorf("subnetID(%q) = %q, %v, want %q", tt.network, got, err, tt.want)
		}
	}
}

func TestNICResourceNames(t *testing.T) {
	seen := map[string]bool{}
	for i, tt := range []struct{ name, want string }{
		{"eth0", "eth0"}, {"Ethernet 2", "Ethernet-2"}, {"ETH0", "nic2"}, {"", "nic3"}, {"  ", "nic4"},
		{"Intel(R) Ethernet #3", "Intel-R-Ethernet-3"}, {strings.Repeat("x", 50), strings.Repeat("x", 40)},
	} {
		if got := nicResourceName(tt.name, i, seen); got != tt.want {
			t.Errorf("nic %d %q: %q, want %q", i, tt.name, got, tt.want)
		}
	}
}

func TestRenderTemplateBadInput(t *testing.T) {
	tests := []struct {
		name   string
		change func(*target.Definition)
		err    string
	}{
		{"no nics", func(d *target.Definition) { d.NICs = nil }, "azure target: the machine has no network interface; an azure vm needs one"},
		{"no disks", func(d *target.Definition) { d.Disks = nil }, "azure target: the machine has no disks"},
		{"os", func(d *target.Definition) { d.OS = "plan9" }, `azure target: os "plan9" is not linux or windows`},
		{"firmware", func(d *target.Definition) { d.Firmware = "coreboot" }, `azure target: firmware "coreboot" is not bios or uefi`},
		{"unmapped network", func(d *target.Definition) { d.NICs[1].Network = "" }, "azure target: nic eth1 has no target network"},
		{"quote in network", func(d *target.Definition) { d.NICs[0].Network = "v'x/app" },
			`azure target: nic eth0: network "v'x/app" is not ` + networkForms},
		{"space in network", func(d *target.Definition) { d.NICs[0].Network = "dr net" },
			`azure target: nic eth0: network "dr net" is not ` + networkForms},
		{"five parts", func(d *target.Definition) { d.NICs[0].Network = "a:b:c:d:e" },
			`azure target: nic eth0: network "a:b:c:d:e" is not ` + networkForms},
		{"empty part", func(d *target.Definition) { d.NICs[0].Network = "vnet:" },
			`azure target: nic eth0: network "vnet:" is not ` + networkForms},
		{"not a subnet id", func(d *target.Definition) { d.NICs[0].Network = "/subscriptions/s/resourceGroups/g" },
			`azure target: nic eth0: network "/subscriptions/s/resourceGroups/g" is not a subnet resource ID (/subscriptions/S/resourceGroups/G/providers/Microsoft.Network/virtualNetworks/V/subnets/N)`},
		{"ip mode", func(d *target.Definition) { d.NICs[0].IPMode = "bootp" }, `azure target: nic eth0: ip mode "bootp" is not keep, dhcp or static`},
		{"static without address", func(d *target.Definition) { d.NICs[2].Address = "" }, "azure target: nic eth2: ip mode static needs an address"},
		{"bad address", func(d *target.Definition) { d.NICs[0].Address = "10.1.2" }, `azure target: nic eth0: address "10.1.2" is not an IP address or CIDR`},
		{"ipv6", func(d *target.Definition) { d.NICs[0].Address = "fd00::5/64" }, "azure target: nic eth0: address fd00::5 is not IPv4 (an azure NIC's primary address is IPv4)"},
		{"dns", func(d *target.Definition) { d.NICs[0].DNS = []string{"dns.example"} }, `azure target: nic eth0: dns server "dns.example" is not an IP address`},
		{"too big", func(d *target.Definition) { d.CPUs = 500 }, "azure target: no VM size in the table has 500 vCPUs and 16384 MiB of memory; give one with the vm size option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def := sampleDefinition()
			tt.change(&def)
			_, err := renderTemplate(def, sampleBlobs, Config{DiskSKU: "Standard_LRS"})
			if err == nil || err.Error() != tt.err {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}
