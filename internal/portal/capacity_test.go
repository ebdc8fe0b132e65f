package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const capacityProfile = `{"version":1,"machine":"web01","tracker":"ebpf","started":"2026-12-01T10:00:00Z",
"interval_seconds":60,"block_size":4096,"disks":[{"name":"sda","path":"/dev/sda","size_bytes":100000000000,
"used_bytes":40000000000,"used_method":"seek_data","samples":[4096000,0]}]}`

// TestCapacityStep posts pasted profiles to the capacity-planning step: it shows the plan with its
// inputs and assumptions, a bad profile gives its error in the step, and the completion form still
// ends the wizard.
func TestCapacityStep(t *testing.T) {
	e := newEnv(t)
	c := newWebClient(t, e.url, e.tls)
	tok := c.login("owner1", password("owner"))
	if a := c.post("/vaults", url.Values{"csrf": {tok}, "name": {"lab"}, "storage_url": {e.storage(t, "lab")}}); a.Status != http.StatusSeeOther {
		t.Fatalf("create vault: %d\n%s", a.Status, a.Body)
	}
	v := "/vaults/" + e.vaultID(t, "lab")
	db := strings.Replace(strings.Replace(capacityProfile, "web01", "db01", 1), "[4096000,0]", "[0,0]", 1)

	a := c.post(v+"/capacity?to=local&machines=physical", url.Values{"csrf": {tok}, "action": {"plan"},
		"profiles": {capacityProfile + "\n" + db}, "bandwidth": {"100Mbit/s"}})
	if a.Status != http.StatusOK {
		t.Fatalf("plan: %d\n%s", a.Status, a.Body)
	}
	mustContain(t, "plan", a.Body,
		`<td>db01</td><td>1</td><td>100 GB</td><td>40 GB</td><td>0 B</td><td>0 B/s</td>`,
		`<td>web01</td><td>1</td><td>100 GB</td><td>40 GB</td><td>2.9 GB</td><td>68.3 kB/s</td>`,
		`<dd>1 (set by machines), each 8 vCPU, 16 GB RAM, 600 GB cache</dd>`,
		`<dd>600 GB</dd>`,
		`<dd>80 GB of used data in 1h46m40s at 12.5 MB/s</dd>`,
		`the commercial service&#39;s published sizing`,
		`one process server moves 140 MB/s`,
		`value="100Mbit/s"`,
		`Yes, I have completed capacity planning`)
	mustNotContain(t, "plan", a.Body, `class="warning"`, `class="error"`)

	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"profiles": {`{"version":2}`}}, `profiles: document 1: profile &#34;&#34;: version 2, want 1`},
		{url.Values{"profiles": {capacityProfile}, "bandwidth": {"fast"}}, `bandwidth: bad rate &#34;fast&#34;`},
		{url.Values{"profiles": {capacityProfile + capacityProfile}}, `plan: machine &#34;web01&#34; has two profiles`},
	} {
		tc.form.Set("csrf", tok)
		tc.form.Set("action", "plan")
		a := c.post(v+"/capacity", tc.form)
		if a.Status != http.StatusUnprocessableEntity {
			t.Errorf("%v: status %d", tc.form, a.Status)
		}
		mustContain(t, "bad profile", a.Body, `<p class="error" role="alert">`+tc.want)
	}

	if a := c.get("/static/capacity.js"); a.Status != http.StatusOK || !strings.Contains(a.Body, `getElementById("profile-files")`) {
		t.Errorf("capacity.js: %d", a.Status)
	}
	a = c.post(v+"/capacity", url.Values{"csrf": {tok}, "completed": {"yes"}})
	if a.Status != http.StatusSeeOther || a.Header.Get("Location") != v+"?prepared=1" {
		t.Fatalf("complete: %d %q", a.Status, a.Header.Get("Location"))
	}
}
