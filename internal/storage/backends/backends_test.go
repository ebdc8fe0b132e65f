package backends_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/storage"
	"github.com/opensiterecovery/osr/internal/storage/backends"
	"github.com/opensiterecovery/osr/internal/storage/retry"
	"github.com/opensiterecovery/osr/internal/storage/storagetest"
)

const startServers = "Start the test servers and load their environment with\n" +
	"\tscripts/services.sh start && source \"$(scripts/services.sh env)\""

// options are what the suite runs with: retries (quick ones) and generous bandwidth limits, so
// that the wrappers are part of what is tested.
func options(t *testing.T) backends.Options {
	return backends.Options{
		Logger:          slog.New(slog.NewTextHandler(t.Output(), nil)),
		Retry:           true,
		RetryOptions:    retry.Options{InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
		UploadLimit:     1 << 30,
		DownloadLimit:   1 << 30,
		CreateIfMissing: true,
	}
}

func open(t *testing.T, rawURL string, opts backends.Options) storage.Backend {
	t.Helper()
	be, err := backends.Open(t.Context(), rawURL, opts)
	if err != nil {
		t.Fatalf("open %s: %v\n(are the test servers running? scripts/services.sh status; start them with scripts/services.sh start)", rawURL, err)
	}
	t.Cleanup(func() { _ = be.Close() })
	return be
}

// runSuite runs the conformance suite on backends opened from base plus a unique prefix, and
// reopens each from its Location, which checks that Location is a URL Open understands.
func runSuite(t *testing.T, base func(t *testing.T) string) {
	newBackend := func(t *testing.T) storage.Backend {
		be := open(t, base(t), options(t))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var names []string
			_ = be.List(ctx, "", func(fi storage.Info) error { names = append(names, fi.Name); return nil })
			for _, n := range names {
				_ = be.Delete(ctx, n)
			}
		})
		return be
	}
	reopen := func(t *testing.T, be storage.Backend) storage.Backend {
		opts := options(t)
		opts.CreateIfMissing = false
		return open(t, be.Location(), opts)
	}
	storagetest.Run(t, newBackend, storagetest.WithReopen(reopen))
}

func TestFile(t *testing.T) {
	runSuite(t, func(t *testing.T) string { return "file://" + filepath.ToSlash(t.TempDir()) + "/vault" })
}

func TestPlainPath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	be := open(t, "vault", backends.Options{CreateIfMissing: true})
	if got, want := be.Location(), "file://"+filepath.ToSlash(filepath.Join(dir, "vault")); got != want {
		t.Errorf("location %q, want %q", got, want)
	}
	if err := be.Put(t.Context(), "config", bytes.NewReader([]byte("c")), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "vault", "config")); err != nil {
		t.Fatal(err)
	}
	if _, err := backends.Open(t.Context(), filepath.Join(dir, "missing"), backends.Options{}); !storage.IsPermanent(err) {
		t.Errorf("open of a missing directory without CreateIfMissing: %v, want a permanent error", err)
	}
}

func TestAzure(t *testing.T) {
	if os.Getenv("OSR_TEST_AZURITE") != "1" || os.Getenv("AZURE_STORAGE_ENDPOINT") == "" {
		t.Fatal("no Azurite to test against: OSR_TEST_AZURITE=1 and the AZURE_STORAGE_* variables must be set. " + startServers)
	}
	runSuite(t, func(t *testing.T) string { return "azure://osrtest/" + storagetest.RandomName("b-") })

	// The same Azurite through a connection string, and a location without secrets. (This runs
	// before the suite's parallel subtests.)
	conn := "DefaultEndpointsProtocol=http;AccountName=" + os.Getenv("AZURE_STORAGE_ACCOUNT") +
		";AccountKey=" + os.Getenv("AZURE_STORAGE_KEY") + ";BlobEndpoint=" + os.Getenv("AZURE_STORAGE_ENDPOINT") + ";"
	opts := backends.Options{CreateIfMissing: true, Getenv: func(k string) string {
		if k == "AZURE_STORAGE_CONNECTION_STRING" {
			return conn
		}
		return ""
	}}
	be := open(t, "azure://osrtest/conn", opts)
	if loc := be.Location(); loc != "azure://osrtest/conn" {
		t.Errorf("location %q", loc)
	}
}

func TestS3(t *testing.T) {
	endpoint := os.Getenv("OSR_TEST_S3_ENDPOINT")
	if endpoint == "" || os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		t.Fatal("no S3 server to test against: OSR_TEST_S3_ENDPOINT and the AWS_* variables must be set. " + startServers)
	}
	runSuite(t, func(t *testing.T) string {
		return "s3://" + endpoint + "/osrtest/" + storagetest.RandomName("b-") + "?tls=false"
	})

	be := open(t, "s3://"+endpoint+"/osrtest?tls=false", backends.Options{CreateIfMissing: true})
	if loc := be.Location(); strings.Contains(loc, os.Getenv("AWS_SECRET_ACCESS_KEY")) {
		t.Errorf("location %q has a credential", loc)
	}
	_, err := backends.Open(t.Context(), "s3://"+endpoint+"/osrtest?tls=false", backends.Options{
		Getenv: func(k string) string {
			if k == "AWS_ACCESS_KEY_ID" {
				return os.Getenv(k)
			}
			return ""
		},
	})
	if err == nil || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") || !storage.IsPermanent(err) {
		t.Errorf("open without a secret key: %v", err)
	}
}
