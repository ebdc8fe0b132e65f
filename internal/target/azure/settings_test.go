//go:build linux

package azure

import (
	"reflect"
	"testing"
)

func TestConfigFromSettings(t *testing.T) {
	url := "https://acct.blob.core.windows.net/failover"
	got, err := ConfigFromSettings(map[string]string{
		"container_url": url, "account": "acct", "prefix": "dr/site-a", "create_container": "true", "workers": "6",
		"min_zero_gap": "4096", "storage_account_id": "/subscriptions/s/x", "disk_sku": "Premium_LRS", "vm_size": "Standard_D4s_v5",
	}, []byte("a2V5"))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{ContainerURL: url, Account: "acct", Key: "a2V5", Prefix: "dr/site-a", CreateContainer: true, Workers: 6,
		MinZeroGap: 4096, StorageAccountID: "/subscriptions/s/x", DiskSKU: "Premium_LRS", VMSize: "Standard_D4s_v5"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config\n%+v, want\n%+v", got, want)
	}
	sas, err := ConfigFromSettings(map[string]string{"container_url": url}, []byte("?sv=2024&sig=abc"))
	if err != nil || sas.ContainerURL != url+"?sv=2024&sig=abc" || sas.Key != "" {
		t.Errorf("SAS secret: %+v, %v", sas, err)
	}
	if _, err := New(sas, Deps{}); err != nil {
		t.Errorf("New of a SAS config: %v", err)
	}

	tests := []struct {
		name     string
		settings map[string]string
		err      string
	}{
		{"unknown", map[string]string{"container_url": url, "zone": "1", "bucket": "x"},
			`azure target: unknown setting "bucket" (container_url, account, prefix, create_container, workers, min_zero_gap, storage_account_id, disk_sku, vm_size)`},
		{"no url", map[string]string{"account": "a"}, "azure target: no container URL (setting container_url)"},
		{"bool", map[string]string{"container_url": url, "create_container": "maybe"}, `azure target: setting create_container: "maybe" is not a valid value`},
		{"int", map[string]string{"container_url": url, "workers": "many"}, `azure target: setting workers: "many" is not a valid value`},
		{"sas in settings", map[string]string{"container_url": url + "?sig=x"},
			"azure target: setting container_url has a query: give a SAS token as the target's secret, not in its settings"},
	}
	for _, tt := range tests {
		if _, err := ConfigFromSettings(tt.settings, nil); err == nil || err.Error() != tt.err {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.err)
		}
	}
}
