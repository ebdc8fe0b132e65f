package portal

import (
	"bytes"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

// TestFailoverPageVerifyBoot: both failover forms have the verify_boot checkbox and the portal
// sends it (the vault service of this env has no boot check, and says so on the page).
func TestFailoverPageVerifyBoot(t *testing.T) {
	e := newFailoverEnv(t)
	v := "/vaults/" + e.vaultID
	c := newWebClient(t, e.url, e.tls)
	tok := c.login("operator1", password("operator"))
	a := c.get(v + "/items/web01/failover")
	if n := bytes.Count([]byte(a.Body), []byte(`<input type="checkbox" name="verify_boot">`)); n != 2 {
		t.Fatalf("%d verify_boot checkboxes on the failover page, want 2", n)
	}
	for _, action := range []string{"test", "run"} {
		a = c.post(v+"/items/web01/failover/"+action, url.Values{"csrf": {tok}, "point": {e.pointID}, "target": {"local1"}, "verify_boot": {"on"}})
		if a.Status != http.StatusNotImplemented {
			t.Fatalf("%s with verify_boot: %d\n%s", action, a.Status, a.Body)
		}
		mustContain(t, action+" with verify_boot", a.Body, `<p class="error" role="alert">verify_boot: this vault service has no boot check configured</p>`)
	}
	// Nothing was started.
	mustContain(t, "after the refusals", c.get(v+"/items/web01/failover").Body, "Start test failover", "Start failover")
}

// TestFailoverPageBootCheckShown: a record's boot check is shown: passed with its wall time and
// marker, failed with the console's last lines.
func TestFailoverPageBootCheckShown(t *testing.T) {
	p, err := New(Config{}, Deps{API: http.NotFoundHandler(), Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	render := func(st foStatus) string {
		t.Helper()
		d := failoverView{Status: st}
		for _, r := range []*foRecord{st.Test, st.Failover} {
			if r != nil {
				d.Records = append(d.Records, r)
			}
		}
		var buf bytes.Buffer
		if err := p.pages.sets["failover"].ExecuteTemplate(&buf, "content", &view{Vault: &Vault{ID: "v1"}, S: &session{Role: "reader"}, Data: d}); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	out := render(foStatus{Machine: "web01", ItemState: "protected",
		Test: &foRecord{Kind: "test", State: "succeeded", VerifyBoot: true, BootCheck: &foBoot{Passed: true, Marker: "login:", Duration: 6420 * time.Millisecond}},
		Failover: &foRecord{Kind: "failover", State: "failed", VerifyBoot: true, Error: "boot check of web01: ...",
			BootCheck: &foBoot{Duration: 5 * time.Second, Console: []string{"SeaBIOS", "Boot failed: not a bootable disk"}, Error: "boot check of web01: ..."}}})
	mustContain(t, "boot checks", out, `<span class="badge job-succeeded">passed</span> in 6.4 s (login: on the serial console)`,
		`<span class="badge job-failed">failed</span> after 5.0 s`, "<pre>SeaBIOS\nBoot failed: not a bootable disk</pre>")
	out = render(foStatus{Machine: "web01", ItemState: "protected", Test: &foRecord{Kind: "test", State: "running", VerifyBoot: true}})
	mustContain(t, "boot check to come", out, "<dt>Boot check</dt><dd>after the disks are written</dd>")
}
