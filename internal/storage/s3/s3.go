// Package s3 is the storage backend on an S3-compatible object store (AWS S3, versitygw, MinIO, ...).
//
// Layout: one bucket; the object "data/ab/abcdef" is the key "PREFIX/data/ab/abcdef", or
// "data/ab/abcdef" without a prefix. Buckets are addressed by path (http://HOST/BUCKET/KEY). A Put
// is one PUT request up to 16 MiB and a multipart upload above; S3 makes either visible whole and at
// once. The client's own retries are off: retrying is the retry wrapper's job.
//
// S3 deletes missing keys without complaint, so Delete asks for the object first to report
// ErrNotFound; an object deleted by someone else between the two requests is not noticed.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/opensiterecovery/osr/internal/storage"
)

// Config says where the objects are and how to authenticate.
type Config struct {
	Endpoint  string // HOST[:PORT]
	Insecure  bool   // plain HTTP instead of HTTPS
	Region    string // optional
	Bucket    string
	Prefix    string // optional, slash-separated, without leading or trailing slash
	AccessKey string
	SecretKey string

	// CreateIfMissing creates the bucket when it does not exist.
	CreateIfMissing bool
}

// Backend stores objects in an S3 bucket.
type Backend struct {
	client   *minio.Client
	core     minio.Core
	bucket   string
	prefix   string // "" or "PREFIX/"
	location string
}

var _ storage.Backend = (*Backend)(nil)

// Open connects to the bucket, creating it if asked, and checks that it exists and that the
// credentials are accepted.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	switch {
	case cfg.Endpoint == "":
		return nil, storage.Permanent(errors.New("s3 storage: no endpoint"))
	case cfg.Bucket == "":
		return nil, storage.Permanent(errors.New("s3 storage: no bucket name"))
	case cfg.AccessKey == "" || cfg.SecretKey == "":
		return nil, storage.Permanent(errors.New("s3 storage: no access key or secret key"))
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		if err := storage.CheckName(prefix); err != nil {
			return nil, fmt.Errorf("s3 storage: prefix: %w", err)
		}
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       !cfg.Insecure,
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	if err != nil {
		return nil, storage.Permanent(fmt.Errorf("s3 storage: %w", err))
	}
	b := &Backend{client: client, core: minio.Core{Client: client}, bucket: cfg.Bucket}
	loc := url.URL{Scheme: "s3", Host: cfg.Endpoint, Path: "/" + cfg.Bucket}
	if prefix != "" {
		b.prefix = prefix + "/"
		loc.Path += "/" + prefix
	}
	q := url.Values{}
	if cfg.Insecure {
		q.Set("tls", "false")
	}
	if cfg.Region != "" {
		q.Set("region", cfg.Region)
	}
	loc.RawQuery = q.Encode()
	b.location = loc.String()

	exists, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, b.fail("open bucket", "", err)
	}
	if !exists && cfg.CreateIfMissing {
		err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region})
		if err != nil && !hasCode(err, "BucketAlreadyOwnedByYou", "BucketAlreadyExists") {
			return nil, b.fail("create bucket", "", err)
		}
		exists = true
	}
	if !exists {
		return nil, storage.Permanent(fmt.Errorf("s3 storage %s: the bucket does not exist", b.location))
	}
	return b, nil
}

// Location returns s3://HOST[:PORT]/BUCKET[/PREFIX][?tls=false&region=R].
func (b *Backend) Location() string { return b.location }

// Close does nothing.
func (b *Backend) Close() error { return nil }

func (b *Backend) key(name string) (string, error) {
	if err := storage.CheckName(name); err != nil {
		return "", fmt.Errorf("s3 storage: %w", err)
	}
	return b.prefix + name, nil
}

func hasCode(err error, codes ...string) bool {
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		return false
	}
	for _, c := range codes {
		if er.Code == c {
			return true
		}
	}
	return false
}

// fail wraps a client error with the operation and classifies it.
func (b *Backend) fail(op, name string, err error) error {
	what := op
	if name != "" {
		what += " " + name
	}
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		return fmt.Errorf("s3 storage %s: %s: %w", b.location, what, err)
	}
	msg := fmt.Errorf("s3 storage %s: %s: %s (HTTP %d): %s", b.location, what, er.Code, er.StatusCode, er.Message)
	switch er.Code {
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%w: %w", msg, storage.ErrNotFound)
	case "NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
		"InvalidBucketName", "InvalidRange", "InvalidArgument", "EntityTooLarge",
		"XAdminUserNotFound": // versitygw's answer to an unknown access key
		return storage.Permanent(msg)
	}
	switch er.StatusCode {
	case http.StatusNotFound:
		if er.Code == "" {
			return fmt.Errorf("%w: %w", msg, storage.ErrNotFound)
		}
		return storage.Permanent(msg) // a missing bucket, user or upload, not object
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusPreconditionFailed:
		return storage.Permanent(msg)
	}
	return msg
}

// Put uploads the object: one PUT, or a multipart upload for large objects.
func (b *Backend) Put(ctx context.Context, name string, body io.ReaderAt, size int64) error {
	key, err := b.key(name)
	if err != nil {
		return err
	}
	if size < 0 {
		return storage.Permanent(fmt.Errorf("s3 storage: put %s: negative size %d", name, size))
	}
	_, err = b.client.PutObject(ctx, b.bucket, key, io.NewSectionReader(body, 0, size), size,
		minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return b.fail("put", name, err)
	}
	return nil
}

// Load gets the range and calls fn with the response body.
func (b *Backend) Load(ctx context.Context, name string, offset, length int64, fn func(io.Reader) error) error {
	key, err := b.key(name)
	if err != nil {
		return err
	}
	if _, err := storage.CheckRange(offset, length, math.MaxInt64); err != nil {
		return fmt.Errorf("s3 storage: load %s: %w", name, err)
	}
	var opts minio.GetObjectOptions
	switch {
	case length > 0:
		err = opts.SetRange(offset, offset+length-1)
	case offset > 0:
		err = opts.SetRange(offset, 0)
	}
	if err != nil {
		return storage.Permanent(fmt.Errorf("s3 storage: load %s: %w", name, err))
	}
	body, info, _, err := b.core.GetObject(ctx, b.bucket, key, opts)
	if hasCode(err, "InvalidRange") {
		// The range starts at or after the end: an error, unless it is the empty range at the end.
		fi, serr := b.Stat(ctx, name)
		if serr != nil {
			return serr
		}
		if _, rerr := storage.CheckRange(offset, length, fi.Size); rerr != nil {
			return fmt.Errorf("s3 storage: load %s: %w", name, rerr)
		}
		return fn(strings.NewReader(""))
	}
	if err != nil {
		return b.fail("load", name, err)
	}
	defer body.Close()
	if length > 0 && info.Size < length {
		return fmt.Errorf("s3 storage: load %s: %w", name, storage.Permanent(fmt.Errorf(
			"range (offset %d, length %d) beyond end of object of %d bytes", offset, length, offset+info.Size)))
	}
	return fn(body)
}

// Stat returns the object's size.
func (b *Backend) Stat(ctx context.Context, name string) (storage.Info, error) {
	key, err := b.key(name)
	if err != nil {
		return storage.Info{}, err
	}
	info, err := b.client.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return storage.Info{}, b.fail("stat", name, err)
	}
	return storage.Info{Name: name, Size: info.Size}, nil
}

// Delete checks that the object exists, then deletes it.
func (b *Backend) Delete(ctx context.Context, name string) error {
	key, err := b.key(name)
	if err != nil {
		return err
	}
	if _, err := b.Stat(ctx, name); err != nil {
		return err
	}
	if err := b.client.RemoveObject(ctx, b.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return b.fail("delete", name, err)
	}
	return nil
}

// List lists the keys under the prefix.
func (b *Backend) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	ctx, cancel := context.WithCancel(ctx) // stops the client's listing goroutine on return
	defer cancel()
	full := b.prefix + prefix
	for obj := range b.client.ListObjectsIter(ctx, b.bucket, minio.ListObjectsOptions{Prefix: full, Recursive: true}) {
		if obj.Err != nil {
			return b.fail("list", prefix, obj.Err)
		}
		if !strings.HasPrefix(obj.Key, full) || strings.HasSuffix(obj.Key, "/") {
			continue // not ours, or a directory marker
		}
		if err := fn(storage.Info{Name: strings.TrimPrefix(obj.Key, b.prefix), Size: obj.Size}); err != nil {
			return err
		}
	}
	return ctx.Err()
}
