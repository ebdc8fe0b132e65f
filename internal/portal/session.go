package portal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

const (
	// sessionCookie holds the signed-in user's API token as "ID.SECRET".
	sessionCookie = "osr_session"
	// loginCookie holds the random value the sign-in form must echo (CSRF before a session exists).
	loginCookie = "osr_login"
	// csrfField is the form field (and csrfHeader the header, for htmx) carrying the CSRF token.
	csrfField  = "csrf"
	csrfHeader = "X-Csrf-Token"
	// maxForm bounds a form body.
	maxForm = 64 << 10
)

// session is the signed-in user of one request.
type session struct {
	Token   string // the API token's secret
	TokenID string // its ID, to revoke it at sign-out
	User    string
	Role    string
	CSRF    string
}

// csrfFor derives the CSRF token of a session from its API token: only who holds the token (in an
// HttpOnly cookie) can compute it, the portal keeps no state, and every replica of the vault
// service computes the same value.
func csrfFor(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("osr portal csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// setCookie sets a cookie the way every portal cookie is set: HttpOnly, Secure, SameSite=Strict.
func setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	})
}

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// handlerFunc is a portal page handler for a signed-in user.
type handlerFunc func(w http.ResponseWriter, r *http.Request, s *session)

// authed wraps h: it requires a valid session (else it sends the browser to the sign-in page)
// and, for every method but GET and HEAD, a matching CSRF token and a same-origin request.
func (p *Portal) authed(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		if err != nil || c.Value == "" {
			p.toLogin(w, r)
			return
		}
		s, err := p.whoami(r, c.Value)
		if err != nil {
			if st := statusOf(err); st == http.StatusUnauthorized {
				setCookie(w, sessionCookie, "", -1)
				p.toLogin(w, r)
				return
			}
			p.fail(w, r, nil, err)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				p.failStatus(w, r, s, http.StatusBadRequest, "the form could not be read: "+err.Error())
				return
			}
			if !sameOrigin(r) || !checkCSRF(r, s.CSRF) {
				p.failStatus(w, r, s, http.StatusForbidden, errCSRF)
				return
			}
		}
		h(w, r, s)
	})
}

// errCSRF is shown when a form's CSRF token is missing or wrong.
const errCSRF = "this form did not come from this portal or has expired: reload the page and try again"

// checkCSRF reports whether the request carries want in its form or header.
func checkCSRF(r *http.Request, want string) bool {
	got := r.PostForm.Get(csrfField)
	if got == "" {
		got = r.Header.Get(csrfHeader)
	}
	return got != "" && hmac.Equal([]byte(got), []byte(want))
}

// sameOrigin refuses requests the browser marks as cross-site (Sec-Fetch-Site) or whose Origin
// is another host. Requests without either header (older browsers, scripts) rely on the token.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

// toLogin sends the browser to the sign-in page, remembering where it was going.
func (p *Portal) toLogin(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeNext returns next if it is a path on this site, else "/". Control characters, spaces and
// backslashes are refused anywhere: browsers drop tabs and newlines from URLs and read "\\" as
// "/", so "/\t/host" or "/\\host" would lead to another site.
func safeNext(next string) string {
	if len(next) > 2048 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, apiPrefix) {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

// maxCookie bounds the session cookie's value.
const maxCookie = 512

// errBadCookie is the error of a session cookie that is not "ID.SECRET".
var errBadCookie = errors.New("the session cookie is malformed")

// parseSessionCookie splits the session cookie's value "ID.SECRET" (a token ID has no dot; the
// secret is what the API issued). Both parts must be non-empty printable ASCII without spaces.
func parseSessionCookie(v string) (id, secret string, err error) {
	if len(v) > maxCookie {
		return "", "", errBadCookie
	}
	id, secret, ok := strings.Cut(v, ".")
	if !ok || id == "" || secret == "" {
		return "", "", errBadCookie
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] >= 0x7f {
			return "", "", errBadCookie
		}
	}
	return id, secret, nil
}
