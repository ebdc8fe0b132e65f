package portal

import (
	"crypto/hmac"
	"net/http"
	"strings"
	"time"
)

// loginView is the sign-in form.
type loginView struct {
	User  string
	Next  string
	Token string // the value of loginCookie, echoed by the form
}

func (p *Portal) loginPage(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if _, err := p.whoami(r, c.Value); err == nil {
			http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
			return
		}
	}
	p.showLogin(w, r, http.StatusOK, "", r.URL.Query().Get("next"), "")
}

// showLogin renders the sign-in form with its form token: the one the browser already holds
// (several tabs, or a page and its favicon, must not invalidate each other's forms) or a new one.
func (p *Portal) showLogin(w http.ResponseWriter, r *http.Request, status int, user, next, msg string) {
	tok := ""
	if c, err := r.Cookie(loginCookie); err == nil && len(c.Value) == 43 {
		tok = c.Value
	} else {
		tok = randomToken()
	}
	setCookie(w, loginCookie, tok, 3600)
	p.render(w, r, status, "login", "", &view{Title: "Sign in", Error: msg,
		Data: loginView{User: user, Next: safeNext(next), Token: tok}})
}

// loginRequest and loginAnswer are the API's sign-in exchange: a user name and password for a
// new API token (the API decides its lifetime).
type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

type loginAnswer struct {
	ID      string     `json:"id"`
	Token   string     `json:"token"`
	Expires *time.Time `json:"expires"`
}

func (p *Portal) loginPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		p.showLogin(w, r, http.StatusBadRequest, "", "", "the form could not be read: "+err.Error())
		return
	}
	user, next := r.PostForm.Get("user"), r.PostForm.Get("next")
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || !sameOrigin(r) ||
		!hmac.Equal([]byte(c.Value), []byte(r.PostForm.Get(csrfField))) {
		p.showLogin(w, r, http.StatusForbidden, user, next, errCSRF)
		return
	}
	if user == "" || r.PostForm.Get("password") == "" {
		p.showLogin(w, r, http.StatusBadRequest, user, next, "enter a user name and a password")
		return
	}
	var ans loginAnswer
	err = p.api.do(r.Context(), r, "", call{method: http.MethodPost, path: pathLogin,
		in:  loginRequest{User: user, Password: r.PostForm.Get("password")},
		out: &ans})
	if err != nil {
		if st := statusOf(err); st != 0 {
			p.showLogin(w, r, st, user, next, err.Error())
			return
		}
		p.log.Error("portal: sign-in", "err", err)
		p.showLogin(w, r, http.StatusInternalServerError, user, next, "the sign-in could not be completed: see the vault service's log")
		return
	}
	if ans.Token == "" || ans.ID == "" || strings.Contains(ans.ID, ".") {
		p.showLogin(w, r, http.StatusInternalServerError, user, next, "the API answered without a token")
		return
	}
	setCookie(w, loginCookie, "", -1)
	maxAge := 0 // a browser-session cookie, unless the token expires sooner
	if ans.Expires != nil {
		maxAge = max(1, int(ans.Expires.Sub(p.clock.Now())/time.Second))
	}
	setCookie(w, sessionCookie, ans.ID+"."+ans.Token, maxAge)
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

func (p *Portal) logoutPost(w http.ResponseWriter, r *http.Request, s *session) {
	// Revoke the token so that a copy of the cookie is worthless too.
	if err := p.send(r, s, http.MethodDelete, pathTokens+"/"+esc(s.TokenID), nil, nil); err != nil && statusOf(err) != http.StatusUnauthorized {
		p.log.Warn("portal: revoke token at sign-out", "user", s.User, "err", err)
	}
	setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
