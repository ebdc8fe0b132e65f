package azure

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/opensiterecovery/osr/internal/clock"
)

// Config says where a failover's blobs go and how the deployment template is filled in.
type Config struct {
	// ContainerURL is the blob container's URL, for example
	// https://ACCOUNT.blob.core.windows.net/failover, or Azurite's
	// http://127.0.0.1:10000/devstoreaccount1/failover. A SAS token in its query authenticates
	// when Account and Key are empty.
	ContainerURL string
	// Account and Key are the storage account's name and shared key.
	Account, Key string
	// Prefix is an optional folder (slash-separated) in the container; each Run's blobs go under
	// PREFIX/NAME-RUN/.
	Prefix string
	// CreateContainer creates the container when it does not exist.
	CreateContainer bool

	// Workers is how many windows are read and written at once (default 8).
	Workers int
	// MinZeroGap is the shortest all-zero stretch inside a window that is skipped rather than
	// written with its neighbours (a multiple of 512; default 64 KiB). Zero pages at a window's
	// ends and outside the disk's data extents are always skipped.
	MinZeroGap int
	// Window is the size of each page write before zero pages are cut out (a multiple of 512,
	// at most 4 MiB; default 4 MiB).
	Window int
	// WatermarkEvery is how many bytes of progress go by between watermark updates in the
	// blob's metadata (default 256 MiB).
	WatermarkEvery int64

	// StorageAccountID is the storage account's ARM resource ID, the template's default for its
	// storageAccountId parameter (managed disks import their VHD from it). Optional: the user
	// gives it when deploying otherwise.
	StorageAccountID string
	// DiskSKU is the managed disks' SKU (default Standard_LRS).
	DiskSKU string
	// VMSize overrides the VM size chosen from the definition's CPUs and memory.
	VMSize string
}

// Deps are the provider's collaborators.
type Deps struct {
	Clock  clock.Clock  // default clock.Real
	Logger *slog.Logger // default slog.Default()
	// Transport carries the HTTP requests (default: the SDK's).
	Transport policy.Transporter
	// Retry overrides the SDK's retries of failed requests (default: 3 retries, from 0.8 s
	// apart up to a minute).
	Retry *policy.RetryOptions
}

// namePattern is what run, machine and disk names may be in a blob name.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func checkName(what, name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("azure target: %s %q is not 1 to 63 letters, digits, '.', '_' or '-' starting with a letter or digit", what, name)
	}
	return nil
}

func (c *Config) withDefaults() error {
	if c.ContainerURL == "" {
		return errors.New("azure target: no container URL")
	}
	u, err := url.Parse(c.ContainerURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("azure target: container URL %q is not an http(s) URL", c.ContainerURL)
	}
	if (c.Account == "") != (c.Key == "") {
		return errors.New("azure target: give both the account and its key, or neither")
	}
	if c.Account == "" && u.RawQuery == "" {
		return errors.New("azure target: no credentials: need an account and key, or a SAS token in the container URL")
	}
	c.Prefix = strings.Trim(c.Prefix, "/")
	if c.Prefix != "" {
		for _, p := range strings.Split(c.Prefix, "/") {
			if err := checkName("prefix element", p); err != nil {
				return err
			}
		}
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.Workers < 1 || c.Workers > 64 {
		return fmt.Errorf("azure target: workers %d is not between 1 and 64", c.Workers)
	}
	if c.MinZeroGap == 0 {
		c.MinZeroGap = 64 << 10
	}
	if c.MinZeroGap < PageSize || c.MinZeroGap%PageSize != 0 {
		return fmt.Errorf("azure target: minimum zero gap %d is not a positive multiple of %d", c.MinZeroGap, PageSize)
	}
	if c.Window == 0 {
		c.Window = MaxPageWrite
	}
	if c.Window < PageSize || c.Window > MaxPageWrite || c.Window%PageSize != 0 {
		return fmt.Errorf("azure target: window %d is not a multiple of %d up to %d", c.Window, PageSize, MaxPageWrite)
	}
	if c.WatermarkEvery == 0 {
		c.WatermarkEvery = 256 << 20
	}
	if c.WatermarkEvery < 0 {
		return fmt.Errorf("azure target: watermark interval %d is negative", c.WatermarkEvery)
	}
	if c.DiskSKU == "" {
		c.DiskSKU = "Standard_LRS"
	}
	return nil
}

// newContainerClient makes the SDK's client of the container, with the SDK's retries of
// transient errors left on: a failover has no retry wrapper around it.
func newContainerClient(c Config, deps Deps) (*container.Client, error) {
	opts := &container.ClientOptions{}
	if deps.Transport != nil {
		opts.Transport = deps.Transport
	}
	if deps.Retry != nil {
		opts.Retry = *deps.Retry
	}
	var client *container.Client
	var err error
	if c.Account != "" {
		var cred *container.SharedKeyCredential
		cred, err = container.NewSharedKeyCredential(c.Account, c.Key)
		if err == nil {
			client, err = container.NewClientWithSharedKeyCredential(c.ContainerURL, cred, opts)
		}
	} else {
		client, err = container.NewClientWithNoCredential(c.ContainerURL, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("azure target: %w", err)
	}
	return client, nil
}

// redact returns the URL without its query (a SAS token is a credential).
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unparsable URL)"
	}
	u.RawQuery = ""
	return u.String()
}
