package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestUsersAndAudit(t *testing.T) {
	e := newEnv(t)
	c := newWebClient(t, e.url, e.tls)
	tok := c.login("owner1", password("owner"))
	a := c.get("/users")
	mustContain(t, "users", a.Body, "<caption>Users</caption>", "<td>reader1</td><td>reader</td><td>password or API tokens</td>",
		"<td>admin</td><td>owner</td><td>API tokens only</td>", `aria-label="Remove user reader1"`)
	mustNotContain(t, "users", a.Body, `aria-label="Remove user owner1"`) // not oneself

	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		want   string
	}{
		{"passwords differ", url.Values{"name": {"bob"}, "role": {"operator"}, "password": {"bob-password-1"}, "password2": {"bob-password-2"}}, 400, "the two passwords differ"},
		{"short password", url.Values{"name": {"bob"}, "role": {"operator"}, "password": {"short"}, "password2": {"short"}}, 400, "password must be at least 12 characters"},
		{"unknown role", url.Values{"name": {"bob"}, "role": {"admin"}, "password": {"bob-password-1"}, "password2": {"bob-password-1"}}, 400, `role &#34;admin&#34; is not known (owner, contributor, operator or reader)`},
		{"name taken", url.Values{"name": {"reader1"}, "role": {"reader"}, "password": {"bob-password-1"}, "password2": {"bob-password-1"}}, 409, "user reader1 already exists"},
	} {
		tc.form.Set("csrf", tok)
		a := c.post("/users", tc.form)
		if a.Status != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, a.Status, tc.status)
		}
		mustContain(t, tc.name, a.Body, `<p class="error" role="alert">`+tc.want+`</p>`)
		mustNotContain(t, tc.name, a.Body, "bob-password") // a password is never echoed
	}
	a = c.post("/users", url.Values{"csrf": {tok}, "name": {"bob"}, "role": {"operator"}, "password": {"bob-password-1"}, "password2": {"bob-password-1"}})
	if a.Status != http.StatusSeeOther {
		t.Fatalf("add bob: %d\n%s", a.Status, a.Body)
	}
	mustContain(t, "added", c.get(a.Location).Body, "User bob added.", "<td>bob</td><td>operator</td>")
	bob := newWebClient(t, e.url, e.tls)
	bob.login("bob", "bob-password-1")
	if a := bob.get("/users"); a.Status != http.StatusForbidden || !strings.Contains(a.Body, "role operator may not do this (needs owner)") {
		t.Errorf("users page as operator: %d", a.Status)
	}
	if a := bob.get("/"); strings.Contains(a.Body, `href="/users"`) {
		t.Error("operator sees the users menu entry")
	}

	a = c.post("/users/bob/remove", url.Values{"csrf": {tok}})
	if a.Status != http.StatusSeeOther {
		t.Fatalf("remove bob: %d\n%s", a.Status, a.Body)
	}
	if a := bob.get("/"); a.Status != http.StatusSeeOther || a.Location != "/login" {
		t.Errorf("removed user still signed in: %d %q", a.Status, a.Location)
	}

	// Every change above is in the audit log, with the browser's address.
	a = c.get("/audit")
	mustContain(t, "audit", a.Body, "<td>owner1</td><td><code>user.add</code></td><td>bob</td><td>role operator</td><td><code>127.0.0.1:",
		"<code>user.remove</code></td><td>bob</td>")
}
