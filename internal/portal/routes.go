package portal

import (
	"net/http"
	"strings"
)

// routes builds the portal's mux. Every page but sign-in and the static files needs a session.
func (p *Portal) routes() *http.ServeMux {
	m := http.NewServeMux()
	static := http.StripPrefix("/static/", http.FileServerFS(p.static))
	m.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") { // no directory listings
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		static.ServeHTTP(w, r)
	}))
	m.HandleFunc("GET /favicon.ico", http.NotFound) // the pages name /static/favicon.svg
	m.HandleFunc("GET /login", p.loginPage)
	m.HandleFunc("POST /login", p.loginPost)
	m.Handle("POST /logout", p.authed(p.logoutPost))

	m.Handle("GET /{$}", p.authed(p.dashboard))
	m.Handle("GET /users", p.authed(p.users))
	m.Handle("POST /users", p.authed(p.userAdd))
	m.Handle("POST /users/{user}/remove", p.authed(p.userRemove))
	m.Handle("GET /audit", p.authed(p.audit))
	m.Handle("GET /vaults", p.authed(p.vaultList))
	m.Handle("POST /vaults", p.authed(p.vaultCreate))
	m.Handle("GET /vaults/{v}", p.authed(p.vaultShow))
	m.Handle("GET /vaults/{v}/delete", p.authed(p.vaultDeleteConfirm))
	m.Handle("POST /vaults/{v}/delete", p.authed(p.vaultDelete))

	m.Handle("GET /vaults/{v}/prepare", p.authed(p.prepare))
	m.Handle("POST /vaults/{v}/prepare/goal", p.authed(p.prepareGoal))
	m.Handle("GET /vaults/{v}/prepare/source-servers", p.authed(p.sourceServers))
	m.Handle("POST /vaults/{v}/registration-key", p.authed(p.registrationKey))
	m.Handle("POST /vaults/{v}/target", p.authed(p.targetPost))
	m.Handle("POST /vaults/{v}/policies", p.authed(p.policyCreate))
	m.Handle("POST /vaults/{v}/policies/{p}/associate", p.authed(p.policyAssociate))
	m.Handle("POST /vaults/{v}/capacity", p.authed(p.capacityPost))

	m.Handle("GET /vaults/{v}/servers", p.authed(p.servers))
	m.Handle("GET /vaults/{v}/vcenters", p.authed(p.vcenters))                       // vcenters.go
	m.Handle("GET /vaults/{v}/vcenters/table", p.authed(p.vcentersTable))            // vcenters.go
	m.Handle("POST /vaults/{v}/vcenters", p.authed(p.vcenterAdd))                    // vcenters.go
	m.Handle("POST /vaults/{v}/vcenters/{name}/refresh", p.authed(p.vcenterRefresh)) // vcenters.go
	m.Handle("POST /vaults/{v}/vcenters/{name}/remove", p.authed(p.vcenterRemove))   // vcenters.go
	m.Handle("GET /vaults/{v}/items", p.authed(p.items))
	m.Handle("GET /vaults/{v}/items/table", p.authed(p.itemsTable))
	m.Handle("POST /vaults/{v}/items", p.authed(p.itemEnable))
	m.Handle("GET /vaults/{v}/items/{m}", p.authed(p.itemShow))
	m.Handle("GET /vaults/{v}/items/{m}/disable", p.authed(p.itemDisableConfirm))
	m.Handle("POST /vaults/{v}/items/{m}/disable", p.authed(p.itemDisable))
	m.Handle("GET /vaults/{v}/items/{m}/failover", p.authed(p.failoverPage))           // failover.go
	m.Handle("POST /vaults/{v}/items/{m}/failover/{action}", p.authed(p.failoverPost)) // failover.go
	m.Handle("GET /vaults/{v}/jobs", p.authed(p.jobs))
	m.Handle("GET /vaults/{v}/jobs/table", p.authed(p.jobsTable))
	m.Handle("GET /vaults/{v}/jobs/{id}", p.authed(p.jobShow))
	m.Handle("GET /vaults/{v}/jobs/{id}/progress", p.authed(p.jobProgress))
	m.Handle("GET /vaults/{v}/alerts", p.authed(p.alerts))
	m.Handle("GET /vaults/{v}/events", p.authed(p.events))

	m.Handle("/", p.authed(func(w http.ResponseWriter, r *http.Request, s *session) {
		p.failStatus(w, r, s, http.StatusNotFound, "there is no page at "+r.URL.Path)
	}))
	return m
}
