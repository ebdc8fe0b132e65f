package azure

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/opensiterecovery/osr/internal/target"
)

// TemplateSchema is the deployment template's $schema.
const TemplateSchema = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"

// API versions of the resources the template creates.
const (
	apiDisks   = "2023-10-02"
	apiNetwork = "2023-09-01"
	apiVM      = "2023-09-01"
)

// DiskSKUs are the managed disk SKUs the template's diskSku parameter allows.
var diskSKUs = []string{"Standard_LRS", "StandardSSD_LRS", "Premium_LRS", "StandardSSD_ZRS", "Premium_ZRS"}

// obj is a JSON object of the template; encoding/json writes its keys sorted, so a template is
// the same bytes each time it is rendered from the same input.
type obj = map[string]any

// azureName is what a network, subnet or resource group name in a template may be: no quotes,
// so that it is safe inside a template expression.
var azureName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._()-]{0,79}$`)

// networkForms says what a network may be, for errors.
const networkForms = "VNET, VNET:SUBNET, RESOURCEGROUP:VNET:SUBNET, SUBSCRIPTION:RESOURCEGROUP:VNET:SUBNET (or with '/') or a subnet resource ID"

// subnetID turns a NIC's target network into a template expression of its subnet's resource ID.
// A network is VNET:SUBNET, RESOURCEGROUP:VNET:SUBNET or SUBSCRIPTION:RESOURCEGROUP:VNET:SUBNET
// (a virtual network's subnet in the deployment's resource group, in another one, or in another
// subscription), VNET (its subnet "default"), or a full subnet resource ID
// (/subscriptions/.../subnets/NAME). '/' separates as ':' does; network mappings take ':' (their
// names have no '/'), and neither is in an Azure resource name.
func subnetID(network string) (string, error) {
	if strings.HasPrefix(network, "/subscriptions/") {
		parts := strings.Split(network, "/")
		if len(parts) != 11 || !strings.EqualFold(parts[5], "providers") ||
			!strings.EqualFold(parts[6], "Microsoft.Network") || !strings.EqualFold(parts[7], "virtualNetworks") ||
			!strings.EqualFold(parts[9], "subnets") || strings.ContainsAny(network, "'[]") {
			return "", fmt.Errorf("network %q is not a subnet resource ID (/subscriptions/S/resourceGroups/G/providers/Microsoft.Network/virtualNetworks/V/subnets/N)", network)
		}
		return network, nil
	}
	sep := ":"
	if strings.Contains(network, "/") {
		sep = "/"
	}
	parts := strings.Split(network, sep)
	for _, p := range parts {
		if !azureName.MatchString(p) {
			return "", fmt.Errorf("network %q is not %s", network, networkForms)
		}
	}
	const subnets = "'Microsoft.Network/virtualNetworks/subnets'"
	switch len(parts) {
	case 1:
		return fmt.Sprintf("[resourceId(%s, '%s', 'default')]", subnets, parts[0]), nil
	case 2:
		return fmt.Sprintf("[resourceId(%s, '%s', '%s')]", subnets, parts[0], parts[1]), nil
	case 3:
		return fmt.Sprintf("[resourceId('%s', %s, '%s', '%s')]", parts[0], subnets, parts[1], parts[2]), nil
	case 4:
		return fmt.Sprintf("[resourceId('%s', '%s', %s, '%s', '%s')]", parts[0], parts[1], subnets, parts[2], parts[3]), nil
	}
	return "", fmt.Errorf("network %q is not %s", network, networkForms)
}

// ipConfig returns the NIC's IP configuration properties for its IP mode.
func ipConfig(n target.NIC, subnet string) (obj, error) {
	props := obj{"subnet": obj{"id": subnet}, "primary": true}
	switch n.IPMode {
	case "dhcp":
		props["privateIPAllocationMethod"] = "Dynamic"
	case "keep", "static":
		if n.Address == "" {
			return nil, fmt.Errorf("nic %s: ip mode %s needs an address", n.Name, n.IPMode)
		}
		addr, err := netip.ParseAddr(n.Address)
		if err != nil {
			p, perr := netip.ParsePrefix(n.Address)
			if perr != nil {
				return nil, fmt.Errorf("nic %s: address %q is not an IP address or CIDR", n.Name, n.Address)
			}
			addr = p.Addr()
		}
		if !addr.Is4() {
			return nil, fmt.Errorf("nic %s: address %s is not IPv4 (an azure NIC's primary address is IPv4)", n.Name, addr)
		}
		props["privateIPAllocationMethod"] = "Static"
		props["privateIPAddress"] = addr.String()
	default:
		return nil, fmt.Errorf("nic %s: ip mode %q is not keep, dhcp or static", n.Name, n.IPMode)
	}
	return props, nil
}

// unsafeNIC matches what a NIC's name may hold that its resource name may not.
var unsafeNIC = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// nicResourceName is the suffix of NIC i's resource name: its name with other characters than
// letters, digits, '.', '_' and '-' made '-' ("Ethernet 2" becomes Ethernet-2), or nicI when that
// leaves nothing or a name taken already.
func nicResourceName(name string, i int, seen map[string]bool) string {
	rn := strings.Trim(unsafeNIC.ReplaceAllString(name, "-"), "-.")
	if len(rn) > 40 {
		rn = rn[:40]
	}
	if rn == "" || seen[strings.ToLower(rn)] {
		rn = fmt.Sprintf("nic%d", i)
	}
	seen[strings.ToLower(rn)] = true
	return rn
}

// param returns a template parameter of type string.
func param(def any, desc string, allowed []string) obj {
	p := obj{"type": "string", "metadata": obj{"description": desc}}
	if def != nil {
		p["defaultValue"] = def
	}
	if allowed != nil {
		p["allowedValues"] = allowed
	}
	return p
}

// renderTemplate returns the deployment template that creates the machine of def from the page
// blobs at blobURLs (one per disk, in order): managed disks imported from them, one NIC per
// definition NIC, and the VM. It checks what it is given and returns an error naming the first
// thing it cannot render.
func renderTemplate(def target.Definition, blobURLs []string, cfg Config) ([]byte, error) {
	if len(def.Disks) == 0 {
		return nil, fmt.Errorf("azure target: the machine has no disks")
	}
	if len(def.NICs) == 0 {
		return nil, fmt.Errorf("azure target: the machine has no network interface; an azure vm needs one")
	}
	size := cfg.VMSize
	if size == "" {
		var err error
		if size, err = ChooseVMSize(def.CPUs, def.MemoryMB); err != nil {
			return nil, err
		}
	}
	osType := "Linux"
	switch def.OS {
	case "", "linux":
	case "windows":
		osType = "Windows"
	default:
		return nil, fmt.Errorf("azure target: os %q is not linux or windows", def.OS)
	}
	gen := "V1"
	switch def.Firmware {
	case "", "bios":
	case "uefi":
		gen = "V2"
	default:
		return nil, fmt.Errorf("azure target: firmware %q is not bios or uefi", def.Firmware)
	}
	tags := obj{"osr-source": def.Source, "osr-point": def.PointID, "osr-machine": def.Name}
	if def.Test {
		tags["osr-test-failover"] = "true"
	}
	var storageDefault any
	if cfg.StorageAccountID != "" {
		storageDefault = cfg.StorageAccountID
	}
	params := obj{
		"vmName":           param(def.Name, "The virtual machine's name; its disks and NICs are named after it.", nil),
		"location":         param("[resourceGroup().location]", "Where the resources are created: the storage account's region.", nil),
		"vmSize":           param(size, fmt.Sprintf("The VM size (chosen for %d vCPUs and %d MiB of memory).", def.CPUs, def.MemoryMB), nil),
		"osType":           param(osType, "The OS disk's operating system.", []string{"Linux", "Windows"}),
		"diskSku":          param(cfg.DiskSKU, "The managed disks' SKU.", diskSKUs),
		"storageAccountId": param(storageDefault, "Resource ID of the storage account that holds the VHD page blobs.", nil),
	}

	var resources, dependsOn, dataDisks, nics []any
	var osDisk obj
	for i, d := range def.Disks {
		name := fmt.Sprintf("[concat(parameters('vmName'), '-%s')]", d.Name)
		id := fmt.Sprintf("[resourceId('Microsoft.Compute/disks', concat(parameters('vmName'), '-%s'))]", d.Name)
		props := obj{"creationData": obj{
			"createOption":     "Import",
			"storageAccountId": "[parameters('storageAccountId')]",
			"sourceUri":        blobURLs[i],
		}}
		if i == 0 {
			props["osType"] = "[parameters('osType')]"
			props["hyperVGeneration"] = gen
		}
		resources = append(resources, obj{
			"type": "Microsoft.Compute/disks", "apiVersion": apiDisks, "name": name,
			"location": "[parameters('location')]", "sku": obj{"name": "[parameters('diskSku')]"},
			"properties": props, "tags": tags,
		})
		dependsOn = append(dependsOn, id)
		if i == 0 {
			osDisk = obj{"osType": "[parameters('osType')]", "createOption": "Attach", "managedDisk": obj{"id": id}}
		} else {
			dataDisks = append(dataDisks, obj{"lun": i - 1, "createOption": "Attach", "managedDisk": obj{"id": id}})
		}
	}
	seen := map[string]bool{}
	for i, n := range def.NICs {
		rn := nicResourceName(n.Name, i, seen)
		if n.Network == "" {
			return nil, fmt.Errorf("azure target: nic %s has no target network", n.Name)
		}
		subnet, err := subnetID(n.Network)
		if err != nil {
			return nil, fmt.Errorf("azure target: nic %s: %w", n.Name, err)
		}
		ipc, err := ipConfig(n, subnet)
		if err != nil {
			return nil, fmt.Errorf("azure target: %w", err)
		}
		props := obj{"ipConfigurations": []any{obj{"name": "ipconfig1", "properties": ipc}}}
		if len(n.DNS) > 0 {
			for _, s := range n.DNS {
				if _, err := netip.ParseAddr(s); err != nil {
					return nil, fmt.Errorf("azure target: nic %s: dns server %q is not an IP address", n.Name, s)
				}
			}
			props["dnsSettings"] = obj{"dnsServers": n.DNS}
		}
		name := fmt.Sprintf("[concat(parameters('vmName'), '-%s')]", rn)
		id := fmt.Sprintf("[resourceId('Microsoft.Network/networkInterfaces', concat(parameters('vmName'), '-%s'))]", rn)
		resources = append(resources, obj{
			"type": "Microsoft.Network/networkInterfaces", "apiVersion": apiNetwork, "name": name,
			"location": "[parameters('location')]", "properties": props, "tags": tags,
		})
		dependsOn = append(dependsOn, id)
		nics = append(nics, obj{"id": id, "properties": obj{"primary": i == 0}})
	}
	storage := obj{"osDisk": osDisk}
	if len(dataDisks) > 0 {
		storage["dataDisks"] = dataDisks
	}
	resources = append(resources, obj{
		"type": "Microsoft.Compute/virtualMachines", "apiVersion": apiVM, "name": "[parameters('vmName')]",
		"location": "[parameters('location')]", "dependsOn": dependsOn, "tags": tags,
		"properties": obj{
			"hardwareProfile":    obj{"vmSize": "[parameters('vmSize')]"},
			"storageProfile":     storage,
			"networkProfile":     obj{"networkInterfaces": nics},
			"diagnosticsProfile": obj{"bootDiagnostics": obj{"enabled": true}},
		},
	})
	tmpl := obj{
		"$schema":        TemplateSchema,
		"contentVersion": "1.0.0.0",
		"metadata":       obj{"generator": "osr", "source": def.Source, "pointId": def.PointID, "pointTime": def.PointAt, "test": def.Test},
		"parameters":     params,
		"resources":      resources,
		"outputs": obj{"vmId": obj{"type": "string",
			"value": "[resourceId('Microsoft.Compute/virtualMachines', parameters('vmName'))]"}},
	}
	b, err := json.MarshalIndent(tmpl, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("azure target: encode the template: %w", err)
	}
	return append(b, '\n'), nil
}
