package portal

import (
	"net/http"
	"slices"
	"strings"
)

// servers is the seed's "Validate the infrastructure": configuration servers with their process
// servers and agents, each with its health.
func (p *Portal) servers(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	var css []ConfigServer
	if err := p.get(r, s, vaultPath(v.ID, "/config-servers"), &css); err != nil {
		p.fail(w, r, s, err)
		return
	}
	slices.SortFunc(css, func(a, b ConfigServer) int { return strings.Compare(a.Name, b.Name) })
	p.health(css)
	p.render(w, r, http.StatusOK, "servers", "", &view{Title: "Servers", S: s, Vault: v, Nav: "servers", Data: css})
}

func (p *Portal) loadJobs(r *http.Request, s *session, vault string) ([]Job, error) {
	var jobs []Job
	if err := p.get(r, s, listPath("jobs", vault, ""), &jobs); err != nil {
		return nil, err
	}
	slices.SortFunc(jobs, func(a, b Job) int { return b.Started.Compare(a.Started) })
	return jobs, nil
}

func (p *Portal) jobs(w http.ResponseWriter, r *http.Request, s *session) {
	p.jobsRender(w, r, s, "")
}

// jobsTable is the htmx partial of the jobs table.
func (p *Portal) jobsTable(w http.ResponseWriter, r *http.Request, s *session) {
	p.jobsRender(w, r, s, "jobs-table")
}

func (p *Portal) jobsRender(w http.ResponseWriter, r *http.Request, s *session, block string) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	jobs, err := p.loadJobs(r, s, v.ID)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, r, http.StatusOK, "jobs", block, &view{Title: "Jobs", S: s, Vault: v, Nav: "jobs", Data: jobs})
}

func (p *Portal) loadJob(r *http.Request, s *session) (*Vault, *Job, error) {
	v, err := p.loadVault(r, s)
	if err != nil {
		return nil, nil, err
	}
	var j Job
	if err := p.get(r, s, "/jobs/"+esc(r.PathValue("id")), &j); err != nil {
		return nil, nil, err
	}
	if j.VaultID != v.ID {
		return nil, nil, &APIError{Status: http.StatusNotFound, Message: "job " + j.ID + " is not a job of vault " + v.Name}
	}
	return v, &j, nil
}

func (p *Portal) jobShow(w http.ResponseWriter, r *http.Request, s *session) {
	v, j, err := p.loadJob(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, r, http.StatusOK, "job", "", &view{Title: "Job " + j.Kind, S: s, Vault: v, Nav: "jobs", Data: j})
}

// jobProgress is the htmx partial of one job's progress.
func (p *Portal) jobProgress(w http.ResponseWriter, r *http.Request, s *session) {
	v, j, err := p.loadJob(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, r, http.StatusOK, "job", "job-progress", &view{S: s, Vault: v, Data: j})
}

type alertsView struct {
	Open, Cleared []Alert
}

func (p *Portal) alerts(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	var all []Alert
	if err := p.get(r, s, listPath("alerts", v.ID, "&all=true"), &all); err != nil {
		p.fail(w, r, s, err)
		return
	}
	slices.SortFunc(all, func(a, b Alert) int { return b.Raised.Compare(a.Raised) })
	var d alertsView
	for _, a := range all {
		if a.Cleared == nil || a.Cleared.IsZero() {
			d.Open = append(d.Open, a)
		} else {
			d.Cleared = append(d.Cleared, a)
		}
	}
	p.render(w, r, http.StatusOK, "alerts", "", &view{Title: "Alerts", S: s, Vault: v, Nav: "alerts", Data: d})
}

func (p *Portal) events(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	var evs []Event
	if err := p.get(r, s, listPath("events", v.ID, "&limit=500"), &evs); err != nil {
		p.fail(w, r, s, err)
		return
	}
	slices.SortFunc(evs, func(a, b Event) int { return b.Time.Compare(a.Time) })
	p.render(w, r, http.StatusOK, "events", "", &view{Title: "Events", S: s, Vault: v, Nav: "events", Data: evs})
}
