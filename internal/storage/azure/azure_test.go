package azure_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/storage"
	"github.com/opensiterecovery/osr/internal/storage/azure"
	"github.com/opensiterecovery/osr/internal/storage/storagetest"
)

const testContainer = "osrtest"

// azurite returns the configuration of the Azurite that scripts/services.sh started, failing the
// test when there is none.
func azurite(t *testing.T) azure.Config {
	t.Helper()
	cfg := azure.Config{
		Container: testContainer,
		Account:   os.Getenv("AZURE_STORAGE_ACCOUNT"),
		Key:       os.Getenv("AZURE_STORAGE_KEY"),
		Endpoint:  os.Getenv("AZURE_STORAGE_ENDPOINT"),
	}
	if os.Getenv("OSR_TEST_AZURITE") != "1" || cfg.Account == "" || cfg.Key == "" || cfg.Endpoint == "" {
		t.Fatal("no Azurite to test against: OSR_TEST_AZURITE=1, AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY " +
			"and AZURE_STORAGE_ENDPOINT must be set. Start the test servers and load their environment with\n" +
			"\tscripts/services.sh start && source \"$(scripts/services.sh env)\"")
	}
	return cfg
}

func open(t *testing.T, cfg azure.Config) *azure.Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	be, err := azure.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open: %v\n(is Azurite running? scripts/services.sh status; start it with scripts/services.sh start)", err)
	}
	return be
}

func TestConformance(t *testing.T) {
	base := azurite(t)
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
		cfg.Prefix = strings.TrimPrefix(be.Location(), "azure://"+testContainer+"/")
		return open(t, cfg)
	}
	storagetest.Run(t, newBackend, storagetest.WithReopen(reopen))
}

func TestOpen(t *testing.T) {
	cfg := azurite(t)
	ctx := t.Context()

	missing := cfg
	missing.Container = storagetest.RandomName("missing-")
	if _, err := azure.Open(ctx, missing); !storage.IsPermanent(err) || storage.IsNotFound(err) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("open of a missing container: %v, want a permanent error saying it does not exist", err)
	}

	created := cfg
	created.Container = storagetest.RandomName("created-")
	created.CreateIfMissing = true
	be := open(t, created)
	if got, want := be.Location(), "azure://"+created.Container; got != want {
		t.Errorf("location %q, want %q", got, want)
	}
	open(t, created) // a second open finds the container there

	bad := cfg
	bad.Key = strings.Repeat("A", 86) + "=="
	if _, err := azure.Open(ctx, bad); !storage.IsPermanent(err) || storage.IsNotFound(err) {
		t.Errorf("open with a wrong key: %v, want a permanent error", err)
	}

	conn := azure.Config{Container: cfg.Container, CreateIfMissing: true, ConnectionString: "DefaultEndpointsProtocol=http;" +
		"AccountName=" + cfg.Account + ";AccountKey=" + cfg.Key + ";BlobEndpoint=" + cfg.Endpoint + ";"}
	be = open(t, conn)
	if strings.Contains(be.Location(), cfg.Key) {
		t.Errorf("location %q has the key", be.Location())
	}
}
