//go:build linux

package azure_test

import (
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/opensiterecovery/osr/internal/e2e/faultproxy"
	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/target/azure"
)

// throughProxy returns cfg with its container reached through a fault proxy in front of Azurite.
func throughProxy(t *testing.T, cfg azure.Config) (azure.Config, *faultproxy.Proxy) {
	t.Helper()
	u, err := url.Parse(cfg.ContainerURL)
	if err != nil {
		t.Fatal(err)
	}
	px, err := faultproxy.New("127.0.0.1:0", u.Host, faultproxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	u.Host = px.Addr()
	cfg.ContainerURL = u.String()
	return cfg, px
}

// TestConnectionCuts: connections reset during the upload are retried, and the blob is exact.
func TestConnectionCuts(t *testing.T) {
	direct, c := azuriteConfig(t)
	cfg, px := throughProxy(t, resumeConfig(direct))
	src, _ := makeDense(t, t.TempDir())
	disk := openDisk(t, "sda", src)
	disk.delay = 2 * time.Millisecond
	req := target.Request{Run: "job-4", Definition: definition(disk), Disks: []target.Disk{disk}}
	p, err := azure.New(cfg, azure.Deps{Retry: &policy.RetryOptions{MaxRetries: 5, RetryDelay: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	next := int64(2 * mib)
	res, err := p.Create(t.Context(), req, func(done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if done >= next && next < 14*mib {
			px.Cut()
			next += 3 * mib
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := px.Stats(); st.Cut < 3 {
		t.Fatalf("only %d connections were cut", st.Cut)
	}
	res.Disks[0] = direct.ContainerURL + "/web01-job-4/sda.vhd"
	checkBlob(t, c, direct, res.Disks[0], src)
}

// TestStorageOutage: the storage goes away mid-upload for longer than the retries last; Create
// fails, and once the storage is back a Create of the same Run resumes and finishes the blob.
func TestStorageOutage(t *testing.T) {
	direct, c := azuriteConfig(t)
	cfg, px := throughProxy(t, resumeConfig(direct))
	src, exts := makeDense(t, t.TempDir())
	disk := openDisk(t, "sda", src)
	disk.delay = 5 * time.Millisecond
	req := target.Request{Run: "job-5", Definition: definition(disk), Disks: []target.Disk{disk}}
	p, err := azure.New(cfg, azure.Deps{Retry: &policy.RetryOptions{MaxRetries: 2, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	_, err = p.Create(t.Context(), req, func(done, total int64) {
		if done >= 9*mib {
			once.Do(func() {
				px.Refuse(true)
				px.Cut()
			})
		}
	})
	if err == nil {
		t.Fatal("create succeeded through a storage outage")
	}
	t.Logf("create during the outage: %v", err)
	px.Refuse(false)
	name := "web01-job-5/sda.vhd"
	wm, above := interrupted(t, c, name, disk.size)
	resumed(t, c, direct, req, src, exts, wm, above)
}
