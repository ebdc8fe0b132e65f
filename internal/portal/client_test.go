package portal

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// webClient is a browser stand-in for handler tests: a cookie jar, no automatic redirects.
type webClient struct {
	t    testing.TB
	c    *http.Client
	base string
}

func newWebClient(t testing.TB, base string, tlsCfg *tls.Config) *webClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &webClient{t: t, base: base, c: &http.Client{
		Jar:           jar,
		Transport:     &http.Transport{TLSClientConfig: tlsCfg},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// answer is one response, body read.
type answer struct {
	Status   int
	Body     string
	Location string
	Header   http.Header
}

func (w *webClient) do(req *http.Request) answer {
	w.t.Helper()
	resp, err := w.c.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return answer{Status: resp.StatusCode, Body: string(b), Location: resp.Header.Get("Location"), Header: resp.Header}
}

func (w *webClient) get(path string, hdr ...string) answer {
	w.t.Helper()
	req, err := http.NewRequest(http.MethodGet, w.base+path, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return w.do(req)
}

func (w *webClient) post(path string, form url.Values, hdr ...string) answer {
	w.t.Helper()
	req, err := http.NewRequest(http.MethodPost, w.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return w.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the forms in body.
func csrf(t testing.TB, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in page:\n%s", body)
	}
	return m[1]
}

// login signs in as user and returns the CSRF token of the session.
func (w *webClient) login(user, password string) string {
	w.t.Helper()
	page := w.get("/login")
	a := w.post("/login", url.Values{"user": {user}, "password": {password}, "csrf": {csrf(w.t, page.Body)}})
	if a.Status != http.StatusSeeOther || a.Location != "/" {
		w.t.Fatalf("sign in as %s: status %d location %q body:\n%s", user, a.Status, a.Location, a.Body)
	}
	home := w.get("/")
	if home.Status != http.StatusOK {
		w.t.Fatalf("dashboard after sign-in: %d\n%s", home.Status, home.Body)
	}
	return csrf(w.t, home.Body)
}

// mustContain fails unless every want is in body.
func mustContain(t testing.TB, what, body string, want ...string) {
	t.Helper()
	for _, s := range want {
		if !strings.Contains(body, s) {
			t.Errorf("%s: missing %q in:\n%s", what, s, body)
		}
	}
}

// mustNotContain fails if any of bad is in body.
func mustNotContain(t testing.TB, what, body string, bad ...string) {
	t.Helper()
	for _, s := range bad {
		if strings.Contains(body, s) {
			t.Errorf("%s: unexpected %q in page", what, s)
		}
	}
}
