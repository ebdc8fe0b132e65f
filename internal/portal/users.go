package portal

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// User is a user of the API and portal.
type User struct {
	Name        string    `json:"name"`
	Role        string    `json:"role"`
	HasPassword bool      `json:"has_password"`
	Created     time.Time `json:"created"`
}

// AuditEntry is one change in the audit log: who, what, when, from where.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail"`
	Remote string    `json:"remote"`
}

// userForm is the "add user" form as entered (never the password).
type userForm struct {
	Name, Role string
}

type usersView struct {
	Users []User
	Form  userForm
	Roles []string
}

// addUserRequest is the API's body for a new user.
type addUserRequest struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"`
}

func (p *Portal) users(w http.ResponseWriter, r *http.Request, s *session) {
	vw := &view{Title: "Users", S: s, Nav: "users"}
	switch q := r.URL.Query(); q.Get("done") {
	case "added":
		vw.Notice = "User " + q.Get("name") + " added."
	case "removed":
		vw.Notice = "User " + q.Get("name") + " removed; their tokens are revoked."
	}
	p.showUsers(w, r, s, vw, userForm{Role: "reader"}, http.StatusOK)
}

func (p *Portal) showUsers(w http.ResponseWriter, r *http.Request, s *session, vw *view, f userForm, status int) {
	var us []User
	if err := p.get(r, s, "/users", &us); err != nil {
		p.fail(w, r, s, err)
		return
	}
	vw.Data = usersView{Users: us, Form: f, Roles: roles}
	p.render(w, r, status, "users", "", vw)
}

// roles are the API's roles, most powerful first.
var roles = []string{"owner", "contributor", "operator", "reader"}

func (p *Portal) userAdd(w http.ResponseWriter, r *http.Request, s *session) {
	f := userForm{Name: strings.TrimSpace(r.PostForm.Get("name")), Role: r.PostForm.Get("role")}
	pw := r.PostForm.Get("password")
	if pw != r.PostForm.Get("password2") {
		p.showUsers(w, r, s, &view{Title: "Users", S: s, Nav: "users", Error: "the two passwords differ"}, f, http.StatusBadRequest)
		return
	}
	if err := p.send(r, s, http.MethodPost, "/users", addUserRequest{Name: f.Name, Role: f.Role, Password: pw}, nil); err != nil {
		if st := statusOf(err); st != 0 && st != http.StatusUnauthorized {
			p.showUsers(w, r, s, &view{Title: "Users", S: s, Nav: "users", Error: err.Error()}, f, st)
			return
		}
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/users?done=added&name="+url.QueryEscape(f.Name), http.StatusSeeOther)
}

func (p *Portal) userRemove(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("user")
	if err := p.send(r, s, http.MethodDelete, "/users/"+esc(name), nil, nil); err != nil {
		if st := statusOf(err); st != 0 && st != http.StatusUnauthorized {
			p.showUsers(w, r, s, &view{Title: "Users", S: s, Nav: "users", Error: err.Error()}, userForm{Role: "reader"}, st)
			return
		}
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/users?done=removed&name="+url.QueryEscape(name), http.StatusSeeOther)
}

func (p *Portal) audit(w http.ResponseWriter, r *http.Request, s *session) {
	var es []AuditEntry
	if err := p.get(r, s, "/audit?limit=500", &es); err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, r, http.StatusOK, "audit", "", &view{Title: "Audit log", S: s, Nav: "audit", Data: es})
}
