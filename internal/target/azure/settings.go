package azure

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// settingNames are the settings of an azure failover target, as ConfigFromSettings reads them.
var settingNames = []string{"container_url", "account", "prefix", "create_container", "workers",
	"min_zero_gap", "storage_account_id", "disk_sku", "vm_size"}

// ConfigFromSettings reads a failover target's settings (docs/formats/azure-deployment.md) and
// its secret: the storage account's key when "account" is set, otherwise a SAS token (the query
// of a SAS URL, without '?') added to the container URL. Unknown settings are refused. The
// result is checked by New.
func ConfigFromSettings(settings map[string]string, secret []byte) (Config, error) {
	var c Config
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := settings[k]
		var err error
		switch k {
		case "container_url":
			c.ContainerURL = v
		case "account":
			c.Account = v
		case "prefix":
			c.Prefix = v
		case "create_container":
			c.CreateContainer, err = strconv.ParseBool(v)
		case "workers":
			c.Workers, err = strconv.Atoi(v)
		case "min_zero_gap":
			c.MinZeroGap, err = strconv.Atoi(v)
		case "storage_account_id":
			c.StorageAccountID = v
		case "disk_sku":
			c.DiskSKU = v
		case "vm_size":
			c.VMSize = v
		default:
			return Config{}, fmt.Errorf("azure target: unknown setting %q (%s)", k, strings.Join(settingNames, ", "))
		}
		if err != nil {
			return Config{}, fmt.Errorf("azure target: setting %s: %q is not a valid value", k, v)
		}
	}
	if c.ContainerURL == "" {
		return Config{}, fmt.Errorf("azure target: no container URL (setting container_url)")
	}
	if strings.Contains(c.ContainerURL, "?") {
		return Config{}, fmt.Errorf("azure target: setting container_url has a query: give a SAS token as the target's secret, not in its settings")
	}
	switch {
	case len(secret) == 0:
	case c.Account != "":
		c.Key = string(secret)
	default:
		c.ContainerURL += "?" + strings.TrimPrefix(string(secret), "?")
	}
	return c, nil
}
