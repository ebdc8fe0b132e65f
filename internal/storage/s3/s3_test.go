package s3_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/storage"
	"github.com/opensiterecovery/osr/internal/storage/s3"
	"github.com/opensiterecovery/osr/internal/storage/storagetest"
)

const testBucket = "osrtest"

// versitygw returns the configuration of the versitygw that scripts/services.sh started, failing
// the test when there is none.
func versitygw(t *testing.T) s3.Config {
	t.Helper()
	cfg := s3.Config{
		Endpoint:  os.Getenv("OSR_TEST_S3_ENDPOINT"),
		Insecure:  true,
		Bucket:    testBucket,
		AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
	}
	if cfg.Endpoint == "" || cfg.AccessKey == "" || cfg.SecretKey == "" {
		t.Fatal("no S3 server to test against: OSR_TEST_S3_ENDPOINT, AWS_ACCESS_KEY_ID and " +
			"AWS_SECRET_ACCESS_KEY must be set. Start the test servers and load their environment with\n" +
			"\tscripts/services.sh start && source \"$(scripts/services.sh env)\"")
	}
	return cfg
}

func open(t *testing.T, cfg s3.Config) *s3.Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	be, err := s3.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open: %v\n(is versitygw running? scripts/services.sh status; start it with scripts/services.sh start)", err)
	}
	return be
}

func TestConformance(t *testing.T) {
	base := versitygw(t)
	base.CreateIfMissing = true
	newBackend := func(t *testing.T) storage.Backend {
		cfg := base
		cfg.Prefix = storagetest.RandomName("t-") + "/vault"
		be := open(t, cfg)
		storagetest.Cleanup(t, be)
		return be
	}
	reopen := func(t *testing.T, be storage.Backend) storage.Backend {
		cfg := base
		cfg.CreateIfMissing = false
		_, rest, _ := strings.Cut(be.Location(), "/"+testBucket+"/")
		cfg.Prefix, _, _ = strings.Cut(rest, "?")
		return open(t, cfg)
	}
	storagetest.Run(t, newBackend, storagetest.WithReopen(reopen))
}

func TestOpen(t *testing.T) {
	cfg := versitygw(t)
	ctx := t.Context()

	missing := cfg
	missing.Bucket = storagetest.RandomName("missing-")
	if _, err := s3.Open(ctx, missing); !storage.IsPermanent(err) || storage.IsNotFound(err) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("open of a missing bucket: %v, want a permanent error saying it does not exist", err)
	}

	created := cfg
	created.Bucket = storagetest.RandomName("created-")
	created.Prefix = "some/prefix"
	created.CreateIfMissing = true
	be := open(t, created)
	if got, want := be.Location(), "s3://"+cfg.Endpoint+"/"+created.Bucket+"/some/prefix?tls=false"; got != want {
		t.Errorf("location %q, want %q", got, want)
	}
	open(t, created) // a second open finds the bucket there

	bad := cfg
	bad.SecretKey = "wrong"
	if _, err := s3.Open(ctx, bad); !storage.IsPermanent(err) || storage.IsNotFound(err) {
		t.Errorf("open with a wrong secret key: %v, want a permanent error", err)
	}
	bad = cfg
	bad.AccessKey = "nobody"
	if _, err := s3.Open(ctx, bad); !storage.IsPermanent(err) || storage.IsNotFound(err) {
		t.Errorf("open with an unknown access key: %v, want a permanent error", err)
	}
	if strings.Contains(be.Location(), cfg.SecretKey) || strings.Contains(be.Location(), cfg.AccessKey) {
		t.Errorf("location %q has a credential", be.Location())
	}
}
