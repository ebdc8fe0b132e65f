//go:build linux

package azure_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/target/azure"
)

// TestSAS: a target authenticated by a SAS token (the failover target's secret) uploads and
// removes; with a wrong signature it fails, and its error does not show the signature.
func TestSAS(t *testing.T) {
	direct, c := azuriteConfig(t)
	if _, err := c.Create(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	sasURL, err := c.GetSASURL(sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true},
		time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(sasURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := azure.ConfigFromSettings(map[string]string{"container_url": direct.ContainerURL}, []byte(u.RawQuery))
	if err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, cfg)
	src, _ := makeDense(t, t.TempDir())
	disk := openDisk(t, "sda", src)
	req := target.Request{Run: "job-6", Definition: definition(disk), Disks: []target.Disk{disk}}
	res, err := p.Create(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.Location+res.DefinitionFile+strings.Join(res.Disks, ""), "sig=") {
		t.Errorf("the result has the SAS token: %+v", res)
	}
	checkBlob(t, c, direct, res.Disks[0], src)
	if err := p.Remove(t.Context(), res); err != nil {
		t.Fatal(err)
	}
	if got := listBlobs(t, c); len(got) != 0 {
		t.Errorf("after remove: %v", got)
	}

	q := u.Query()
	q.Set("sig", "c2VjcmV0LXNpZ25hdHVyZS13cm9uZw==")
	bad, err := azure.ConfigFromSettings(map[string]string{"container_url": direct.ContainerURL}, []byte(q.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := azure.New(bad, azure.Deps{Retry: &policy.RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pb.Create(t.Context(), req, nil)
	if err == nil {
		t.Fatal("create with a wrong SAS signature succeeded")
	}
	for _, secret := range []string{"c2VjcmV0LXNpZ25hdHVyZS13cm9uZw", url.QueryEscape("c2VjcmV0LXNpZ25hdHVyZS13cm9uZw==")} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows the signature: %v", err)
		}
	}
	t.Logf("wrong signature: %v", err)

	// A connection error names the request's URL with its query: the signature is taken out.
	down, err := azure.ConfigFromSettings(map[string]string{"container_url": "http://127.0.0.1:1/devstoreaccount1/c"}, []byte(u.RawQuery))
	if err != nil {
		t.Fatal(err)
	}
	pd, err := azure.New(down, azure.Deps{Retry: &policy.RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pd.Create(t.Context(), req, nil)
	if err == nil || !strings.Contains(err.Error(), "sig=REDACTED") || strings.Contains(err.Error(), q.Get("sig")) ||
		strings.Contains(err.Error(), url.QueryEscape(u.Query().Get("sig"))) {
		t.Errorf("create against a closed port: %v, want an error with the signature redacted", err)
	}
}
