// Package azure is the storage backend on Azure Blob Storage (and Azurite, its emulator).
//
// Layout: one container; the object "data/ab/abcdef" is the block blob "PREFIX/data/ab/abcdef", or
// "data/ab/abcdef" without a prefix. A Put is one Put Blob request (objects up to 5000 MiB) or,
// above that, staged blocks and one Put Block List; either becomes visible whole and at once.
// The SDK's own retries are off: retrying is the retry wrapper's job.
package azure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/opensiterecovery/osr/internal/storage"
)

// Config says where the blobs are and how to authenticate.
type Config struct {
	Container string
	Prefix    string // optional, slash-separated, without leading or trailing slash

	// Either ConnectionString, or Account and Key (with an optional Endpoint).
	ConnectionString string
	Account, Key     string
	// Endpoint is the blob service URL; empty means https://ACCOUNT.blob.core.windows.net/.
	// Azurite's is http://127.0.0.1:10000/devstoreaccount1.
	Endpoint string

	// CreateIfMissing creates the container when it does not exist.
	CreateIfMissing bool
}

// Backend stores objects as block blobs.
type Backend struct {
	client   *container.Client
	prefix   string // "" or "PREFIX/"
	location string
}

var _ storage.Backend = (*Backend)(nil)

// Open connects to the container, creating it if asked, and checks that it exists and that the
// credentials are accepted.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.Container == "" {
		return nil, storage.Permanent(errors.New("azure storage: no container name"))
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		if err := storage.CheckName(prefix); err != nil {
			return nil, fmt.Errorf("azure storage: prefix: %w", err)
		}
	}
	opts := &container.ClientOptions{ClientOptions: policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}}
	var client *container.Client
	var err error
	switch {
	case cfg.ConnectionString != "":
		client, err = container.NewClientFromConnectionString(cfg.ConnectionString, cfg.Container, opts)
	case cfg.Account != "" && cfg.Key != "":
		endpoint := cfg.Endpoint
		if endpoint == "" {
			endpoint = "https://" + cfg.Account + ".blob.core.windows.net/"
		}
		var cred *container.SharedKeyCredential
		cred, err = container.NewSharedKeyCredential(cfg.Account, cfg.Key)
		if err == nil {
			client, err = container.NewClientWithSharedKeyCredential(
				strings.TrimSuffix(endpoint, "/")+"/"+url.PathEscape(cfg.Container), cred, opts)
		}
	default:
		return nil, storage.Permanent(errors.New("azure storage: no credentials: need a connection string, or an account and key"))
	}
	if err != nil {
		return nil, storage.Permanent(fmt.Errorf("azure storage: %w", err))
	}
	b := &Backend{client: client, location: "azure://" + cfg.Container}
	if prefix != "" {
		b.prefix = prefix + "/"
		b.location += "/" + prefix
	}
	if cfg.CreateIfMissing {
		_, err := client.Create(ctx, nil)
		if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			return nil, b.fail("create container", "", err)
		}
	}
	if _, err := client.GetProperties(ctx, nil); err != nil {
		return nil, b.fail("open container", "", err)
	}
	return b, nil
}

// Location returns azure://CONTAINER[/PREFIX].
func (b *Backend) Location() string { return b.location }

// Close does nothing.
func (b *Backend) Close() error { return nil }

func (b *Backend) key(name string) (string, error) {
	if err := storage.CheckName(name); err != nil {
		return "", fmt.Errorf("azure storage: %w", err)
	}
	return b.prefix + name, nil
}

// fail wraps an SDK error with the operation and classifies it.
func (b *Backend) fail(op, name string, err error) error {
	what := op
	if name != "" {
		what += " " + name
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return fmt.Errorf("azure storage %s: %s: %w", b.location, what, err)
	}
	msg := fmt.Errorf("azure storage %s: %s: %s (HTTP %d)", b.location, what, re.ErrorCode, re.StatusCode)
	switch {
	case re.ErrorCode == string(bloberror.ContainerNotFound):
		return storage.Permanent(fmt.Errorf("%w: the container does not exist", msg))
	case re.ErrorCode == string(bloberror.BlobNotFound), re.StatusCode == http.StatusNotFound && re.ErrorCode == "":
		return fmt.Errorf("%w: %w", msg, storage.ErrNotFound)
	case re.StatusCode == http.StatusNotFound, re.StatusCode == http.StatusBadRequest, re.StatusCode == http.StatusUnauthorized,
		re.StatusCode == http.StatusForbidden, re.StatusCode == http.StatusPreconditionFailed,
		re.StatusCode == http.StatusRequestEntityTooLarge, re.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return storage.Permanent(msg)
	}
	return msg
}

// Put uploads the object in one request (staged blocks above the single-request limit).
func (b *Backend) Put(ctx context.Context, name string, body io.ReaderAt, size int64) error {
	key, err := b.key(name)
	if err != nil {
		return err
	}
	if size < 0 {
		return storage.Permanent(fmt.Errorf("azure storage: put %s: negative size %d", name, size))
	}
	bb := b.client.NewBlockBlobClient(key)
	rd := io.NewSectionReader(body, 0, size)
	if size <= blockblob.MaxUploadBlobBytes {
		_, err = bb.Upload(ctx, streaming.NopCloser(rd), nil)
	} else {
		_, err = bb.UploadStream(ctx, rd, &blockblob.UploadStreamOptions{BlockSize: 16 << 20, Concurrency: 4})
	}
	if err != nil {
		return b.fail("put", name, err)
	}
	return nil
}

// Load downloads the range and calls fn with the response body.
func (b *Backend) Load(ctx context.Context, name string, offset, length int64, fn func(io.Reader) error) error {
	key, err := b.key(name)
	if err != nil {
		return err
	}
	if _, err := storage.CheckRange(offset, length, math.MaxInt64); err != nil {
		return fmt.Errorf("azure storage: load %s: %w", name, err)
	}
	resp, err := b.client.NewBlobClient(key).DownloadStream(ctx, &blob.DownloadStreamOptions{
		Range: blob.HTTPRange{Offset: offset, Count: length},
	})
	if bloberror.HasCode(err, bloberror.InvalidRange) {
		// The range starts at or after the end: an error, unless it is the empty range at the end.
		fi, serr := b.Stat(ctx, name)
		if serr != nil {
			return serr
		}
		if _, rerr := storage.CheckRange(offset, length, fi.Size); rerr != nil {
			return fmt.Errorf("azure storage: load %s: %w", name, rerr)
		}
		return fn(strings.NewReader(""))
	}
	if err != nil {
		return b.fail("load", name, err)
	}
	defer resp.Body.Close()
	if length > 0 && (resp.ContentLength == nil || *resp.ContentLength < length) {
		size := int64(-1)
		if resp.ContentLength != nil {
			size = offset + *resp.ContentLength
		}
		return fmt.Errorf("azure storage: load %s: %w", name, storage.Permanent(fmt.Errorf(
			"range (offset %d, length %d) beyond end of object of %d bytes", offset, length, size)))
	}
	return fn(resp.Body)
}

// Stat returns the blob's size.
func (b *Backend) Stat(ctx context.Context, name string) (storage.Info, error) {
	key, err := b.key(name)
	if err != nil {
		return storage.Info{}, err
	}
	resp, err := b.client.NewBlobClient(key).GetProperties(ctx, nil)
	if err != nil {
		return storage.Info{}, b.fail("stat", name, err)
	}
	if resp.ContentLength == nil {
		return storage.Info{}, fmt.Errorf("azure storage: stat %s: no content length in the response", name)
	}
	return storage.Info{Name: name, Size: *resp.ContentLength}, nil
}

// Delete deletes the blob.
func (b *Backend) Delete(ctx context.Context, name string) error {
	key, err := b.key(name)
	if err != nil {
		return err
	}
	if _, err := b.client.NewBlobClient(key).Delete(ctx, nil); err != nil {
		return b.fail("delete", name, err)
	}
	return nil
}

// List lists the blobs under the prefix, page by page.
func (b *Backend) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	full := b.prefix + prefix
	pager := b.client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &full})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return b.fail("list", prefix, err)
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name == nil || !strings.HasPrefix(*item.Name, full) {
				continue
			}
			var size int64
			if item.Properties != nil && item.Properties.ContentLength != nil {
				size = *item.Properties.ContentLength
			}
			if err := fn(storage.Info{Name: strings.TrimPrefix(*item.Name, b.prefix), Size: size}); err != nil {
				return err
			}
		}
	}
	return nil
}
