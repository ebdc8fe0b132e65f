// Package backends opens a storage backend from its URL: the one place that knows every backend.
//
// URL formats:
//
//	/abs/path, rel/path, file:///abs/path         a local directory (package file)
//	azure://CONTAINER[/PREFIX]                     Azure Blob Storage (package azure)
//	s3://HOST[:PORT]/BUCKET[/PREFIX][?tls=false&region=R]   S3-compatible (package s3)
//
// Credentials never go in the URL; they come from the environment:
//
//	azure: AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY with
//	       an optional AZURE_STORAGE_ENDPOINT (default https://ACCOUNT.blob.core.windows.net/;
//	       Azurite: http://127.0.0.1:10000/devstoreaccount1)
//	s3:    AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; AWS_REGION when the URL has no region
package backends

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/opensiterecovery/osr/internal/storage"
	"github.com/opensiterecovery/osr/internal/storage/azure"
	"github.com/opensiterecovery/osr/internal/storage/file"
	"github.com/opensiterecovery/osr/internal/storage/limit"
	"github.com/opensiterecovery/osr/internal/storage/retry"
	"github.com/opensiterecovery/osr/internal/storage/s3"
)

// Options configure Open.
type Options struct {
	// Getenv reads the credentials' environment variables; nil: os.Getenv.
	Getenv func(string) string
	// Logger receives the retry wrapper's messages; nil: they are dropped.
	Logger *slog.Logger
	// Retry wraps the backend so that transient errors are retried, as RetryOptions say (their
	// Logger defaults to Logger).
	Retry        bool
	RetryOptions retry.Options
	// UploadLimit and DownloadLimit are bandwidth limits in bytes per second; 0: unlimited.
	UploadLimit, DownloadLimit int64
	// CreateIfMissing creates the directory, container or bucket when it does not exist.
	CreateIfMissing bool
}

// Open returns the backend that rawURL names, wrapped in the bandwidth limit and retries that opts
// ask for. Errors about the URL or missing credentials are marked storage.Permanent.
func Open(ctx context.Context, rawURL string, opts Options) (storage.Backend, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	tgt, err := parse(rawURL, getenv)
	if err != nil {
		return nil, storage.Permanent(err)
	}
	var be storage.Backend
	switch tgt.kind {
	case kindFile:
		be, err = file.Open(tgt.dir, file.Options{CreateIfMissing: opts.CreateIfMissing})
	case kindAzure:
		tgt.azure.CreateIfMissing = opts.CreateIfMissing
		be, err = azure.Open(ctx, tgt.azure)
	case kindS3:
		tgt.s3.CreateIfMissing = opts.CreateIfMissing
		be, err = s3.Open(ctx, tgt.s3)
	default:
		err = errors.New("unreachable: unknown backend kind")
	}
	if err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	if opts.UploadLimit > 0 || opts.DownloadLimit > 0 {
		be = limit.New(be, limit.Options{Upload: opts.UploadLimit, Download: opts.DownloadLimit})
	}
	if opts.Retry {
		ro := opts.RetryOptions
		if ro.Logger == nil {
			ro.Logger = opts.Logger
		}
		be = retry.New(be, ro)
	}
	return be, nil
}
