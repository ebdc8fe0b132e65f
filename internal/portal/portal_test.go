package portal

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/vault"
)

// testEnv is a portal served over HTTPS on loopback, in front of the API.
type testEnv struct {
	url         string
	tls         *tls.Config
	failoverDir string // a directory for the local target provider
	addUser     func(t testing.TB, name, role, password string)
	// vault creates a vault through the API as an owner and returns its ID.
	vault func(t testing.TB, name string) string
	// vaultID returns the ID of the vault named name.
	vaultID func(t testing.TB, name string) string
	// storage returns a storage URL for a new vault.
	storage func(t testing.TB, name string) string
	// register admits configuration server cs1 into the vault with a registration key's text;
	// cs1 reports machine and db01 in its inventory.
	register func(t testing.TB, vaultID, key, machine string)
	// routes are the vault's API endpoints.
	routes []vault.Route
	// policy creates a policy with the seed's defaults through the API and returns its name.
	policy func(t testing.TB, vaultID, name string) string
	// seedItems registers cs1 with machines m0000… and protects n of them with policy.
	seedItems func(t testing.TB, vaultID, policy string, n int)
	// protect makes machine a replicated item of the vault with policy, in initial replication
	// (42.5 %), registering cs1 first if needed.
	protect func(t testing.TB, vaultID, machine, policy string)
	// point commits a recovery point of machine into the vault's store (consistency app or crash).
	point func(t testing.TB, vaultID, machine, consistency string, at time.Time) string
	// report sends a heartbeat of the vault's configuration server (registered by protect).
	report func(t testing.TB, vaultID string, hb vault.Heartbeat)
	// inventory sends an inventory of the vault's configuration server (registered by protect).
	inventory func(t testing.TB, vaultID string, inv vault.Inventory)
	// evaluate runs the vault's alert evaluation now.
	evaluate func(t testing.TB)
	// clock is the vault's and the portal's clock.
	clock *clock.Fake
	// checkKey checks that key is a valid registration key of the vault.
	checkKey func(t testing.TB, vaultID, key string)
}

// password is the password of the test user of role.
func password(role string) string { return role + "-password-1" }

func TestUnauthenticatedRedirectsToLogin(t *testing.T) {
	e := newEnv(t)
	c := newWebClient(t, e.url, e.tls)
	for _, tc := range []struct {
		method, path, want string
	}{
		{"GET", "/", "/login"},
		{"GET", "/vaults", "/login?next=%2Fvaults"},
		{"GET", "/vaults/v-x/items?y=1", "/login?next=%2Fvaults%2Fv-x%2Fitems%3Fy%3D1"},
		{"POST", "/vaults", "/login"},
		{"POST", "/logout", "/login"},
	} {
		var a answer
		if tc.method == "GET" {
			a = c.get(tc.path)
		} else {
			a = c.post(tc.path, url.Values{})
		}
		if a.Status != http.StatusSeeOther || a.Location != tc.want {
			t.Errorf("%s %s: status %d location %q, want 303 %q", tc.method, tc.path, a.Status, a.Location, tc.want)
		}
	}
	// An htmx refresh is told where to go instead of getting the sign-in page as a fragment.
	a := c.get("/vaults/v-x/items/table", "HX-Request", "true")
	if a.Status != http.StatusUnauthorized || a.Header.Get("HX-Redirect") != "/login?next=%2Fvaults%2Fv-x%2Fitems%2Ftable" {
		t.Errorf("htmx refresh: status %d HX-Redirect %q", a.Status, a.Header.Get("HX-Redirect"))
	}
	// A forged cookie is no session.
	u, _ := url.Parse(e.url)
	c.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: "forged"}})
	if a := c.get("/"); a.Status != http.StatusSeeOther || a.Location != "/login" {
		t.Errorf("forged cookie: status %d location %q", a.Status, a.Location)
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	c := newWebClient(t, e.url, e.tls)
	page := c.get("/login?next=/vaults")
	if page.Status != http.StatusOK {
		t.Fatalf("login page: %d", page.Status)
	}
	tok := csrf(t, page.Body)

	// Wrong password: the API's message, the user name kept.
	a := c.post("/login", url.Values{"user": {"owner1"}, "password": {"nope"}, "csrf": {tok}, "next": {"/vaults"}})
	if a.Status != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d", a.Status)
	}
	mustContain(t, "wrong password", a.Body, `<p class="error" role="alert">user name or password is wrong</p>`, `value="owner1"`)

	// No form token (a cross-site login attempt): refused before the API is asked.
	a = c.post("/login", url.Values{"user": {"owner1"}, "password": {password("owner")}})
	if a.Status != http.StatusForbidden {
		t.Fatalf("login without token: status %d", a.Status)
	}
	mustContain(t, "login without token", a.Body, errCSRF)

	page = c.get("/login?next=/vaults")
	a = c.post("/login", url.Values{"user": {"owner1"}, "password": {password("owner")}, "csrf": {csrf(t, page.Body)}, "next": {"/vaults"}})
	if a.Status != http.StatusSeeOther || a.Location != "/vaults" {
		t.Fatalf("login: status %d location %q\n%s", a.Status, a.Location, a.Body)
	}
	var sc string
	for _, h := range a.Header.Values("Set-Cookie") {
		if strings.HasPrefix(h, sessionCookie+"=") {
			sc = h
		}
	}
	for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(sc, attr) {
			t.Errorf("session cookie %q lacks %s", sc, attr)
		}
	}
	// Signed in, the sign-in page sends the user on.
	if a := c.get("/login"); a.Status != http.StatusSeeOther || a.Location != "/" {
		t.Errorf("login page when signed in: %d %q", a.Status, a.Location)
	}

	// An open redirect through next is not possible.
	c2 := newWebClient(t, e.url, e.tls)
	page = c2.get("/login")
	a = c2.post("/login", url.Values{"user": {"owner1"}, "password": {password("owner")}, "csrf": {csrf(t, page.Body)}, "next": {"//evil.example/"}})
	if a.Location != "/" {
		t.Errorf("next=//evil.example/: location %q", a.Location)
	}
}

func TestLogoutRevokesToken(t *testing.T) {
	e := newEnv(t)
	c := newWebClient(t, e.url, e.tls)
	tok := c.login("reader1", password("reader"))
	mustContain(t, "empty dashboard", c.get("/").Body, "There is no vault yet. Ask an owner or a contributor to create one.")
	u, _ := url.Parse(e.url)
	var session *http.Cookie
	for _, ck := range c.c.Jar.Cookies(u) {
		if ck.Name == sessionCookie {
			session = ck
		}
	}
	if a := c.post("/logout", url.Values{"csrf": {tok}}); a.Status != http.StatusSeeOther || a.Location != "/login" {
		t.Fatalf("logout: %d %q", a.Status, a.Location)
	}
	if a := c.get("/"); a.Status != http.StatusSeeOther {
		t.Fatalf("after logout: %d", a.Status)
	}
	// A copy of the old cookie is worthless: the API revoked the token.
	c2 := newWebClient(t, e.url, e.tls)
	c2.c.Jar.SetCookies(u, []*http.Cookie{session})
	if a := c2.get("/"); a.Status != http.StatusSeeOther || a.Location != "/login" {
		t.Fatalf("old cookie after logout: %d %q", a.Status, a.Location)
	}
}

func TestCSRFRefused(t *testing.T) {
	e := newEnv(t)
	c := newWebClient(t, e.url, e.tls)
	tok := c.login("owner1", password("owner"))
	form := func(csrf string) url.Values {
		v := url.Values{"name": {"lab"}, "storage_url": {e.storage(t, "lab")}}
		if csrf != "" {
			v.Set("csrf", csrf)
		}
		return v
	}
	for _, tc := range []struct {
		name string
		form url.Values
		hdr  []string
	}{
		{"no token", form(""), nil},
		{"wrong token", form("AAAA" + tok[4:]), nil},
		{"token of another session", form(csrfFor("another-token")), nil},
		{"cross-site", form(tok), []string{"Sec-Fetch-Site", "cross-site"}},
		{"foreign origin", form(tok), []string{"Origin", "https://evil.example"}},
	} {
		a := c.post("/vaults", tc.form, tc.hdr...)
		if a.Status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", tc.name, a.Status)
		}
		mustContain(t, tc.name, a.Body, errCSRF)
	}
	if a := c.get("/vaults"); strings.Contains(a.Body, `">lab</a>`) {
		t.Fatal("a refused form created a vault")
	}
	// An oversized form is refused before anything else.
	big := form(tok)
	big.Set("storage_url", strings.Repeat("x", maxForm))
	if a := c.post("/vaults", big); a.Status != http.StatusBadRequest || !strings.Contains(a.Body, "the form could not be read: http: request body too large") {
		t.Errorf("oversized form: %d", a.Status)
	}
	// The same form with the token goes through.
	if a := c.post("/vaults", form(tok)); a.Status != http.StatusSeeOther {
		t.Fatalf("with token: %d\n%s", a.Status, a.Body)
	}
	// htmx requests may carry the token in a header.
	if a := c.post("/vaults", url.Values{"name": {"lab2"}, "storage_url": {e.storage(t, "lab2")}}, csrfHeader, tok); a.Status != http.StatusSeeOther {
		t.Fatalf("token in header: %d\n%s", a.Status, a.Body)
	}
}
